/**
 * `npm run demo:web`: builds the web demo into build-tsc/web and serves it on 127.0.0.1
 * (PORT, default 8080) until Ctrl-C.
 */
import * as path from 'path';
import { buildWebDemo } from './build';
import { serveStatic } from './static-server';

async function main(): Promise<void> {
  const root = process.cwd(); // npm runs scripts in the package folder
  const out = path.join(root, 'build-tsc/web');
  await buildWebDemo(out, root);
  const server = await serveStatic({ '/': out }, Number(process.env.PORT ?? 8080));
  console.log(`natinv web demo: ${server.url}/  (Ctrl-C stops it)`);
  process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
