/** Builds the web demo into one folder: the page, its bundle, the bundled teacher and tfjs' wasm binaries. */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as esbuild from 'esbuild';

/**
 * Writes the demo into `outDir` (everything it loads is there, so it works offline once loaded).
 * `root` is the repository folder.
 */
export async function buildWebDemo(outDir: string, root: string): Promise<void> {
  const WASM_DIR = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  await fs.mkdir(path.join(outDir, 'assets'), { recursive: true });
  await fs.mkdir(path.join(outDir, 'wasm'), { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(root, 'examples/web/main.ts')],
    outfile: path.join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    sourcemap: true,
    logLevel: 'warning',
  });
  await fs.copyFile(path.join(root, 'examples/web/index.html'), path.join(outDir, 'index.html'));
  for (const file of ['cifar10_resnet20.safetensors', 'LICENSE.txt']) {
    await fs.copyFile(path.join(root, 'assets', file), path.join(outDir, 'assets', file));
  }
  for (const file of await fs.readdir(WASM_DIR)) {
    if (file.endsWith('.wasm')) await fs.copyFile(path.join(WASM_DIR, file), path.join(outDir, 'wasm', file));
  }
}
