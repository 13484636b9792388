import { builtinModules } from 'module';
import * as path from 'path';
import * as esbuild from 'esbuild';

// The root entry bundles for a browser: esbuild follows every import natinv's own code makes
// from src/index.ts with --platform=browser, and no Node built-in and no package natinv does not
// declare (dependencies or peerDependencies) may be reached. Packages are left external: what
// they import is their own business (tfjs declares its browser fields itself).

const ROOT = path.resolve(__dirname, '..');
const manifest = require('../package.json') as { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
const DECLARED = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
const BUILTINS = new Set(builtinModules);

/** `@scope/name/sub` -> `@scope/name`; `name/sub` -> `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface Reached {
  readonly specifier: string;
  readonly importer: string;
}

/** Bundles `entry` for the browser; returns the bare imports it reached, with who imported them. */
async function bareImports(entry: string): Promise<Reached[]> {
  const reached: Reached[] = [];
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-bare-imports',
        setup(build) {
          build.onResolve({ filter: /^[^./]/ }, (args) => {
            reached.push({ specifier: args.path, importer: path.relative(ROOT, args.importer) });
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return reached;
}

function offenders(reached: Reached[]): string[] {
  return reached
    .filter(
      ({ specifier }) => specifier.startsWith('node:') || BUILTINS.has(packageName(specifier)) || !DECLARED.has(packageName(specifier)),
    )
    .map(({ specifier, importer }) => `${importer} imports ${specifier}`);
}

test('the root entry reaches no Node built-in and only declared packages when bundled for a browser', async () => {
  const reached = await bareImports(path.join(ROOT, 'src/index.ts'));
  expect(reached.map((r) => packageName(r.specifier))).toContain('@tensorflow/tfjs-core');
  expect(offenders(reached)).toEqual([]);
}, 60_000);

test('the check catches what natinv/node imports (fs, path, ...)', async () => {
  const found = offenders(await bareImports(path.join(ROOT, 'src/node.ts')));
  expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/^src\/io\/files\.ts imports fs$/)]));
}, 60_000);
