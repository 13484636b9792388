/**
 * The `natinv` executable as a real child process, for what only a process shows (signals, exit
 * codes): src/cli/main.ts bundled by esbuild (the bundler under tsup) into the repository's
 * ignored build-tsc/ folder, where its packages (loaded with import(), which ignores NODE_PATH)
 * and the bundled teacher resolve as they do from dist/.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { BuildOptions, BuildResult } from 'esbuild';

const ROOT = path.resolve(__dirname, '..', '..');

/** What to bundle: a file, or TypeScript source resolved from the repository root. */
export type BundleSource = { readonly entry: string } | { readonly contents: string };

/**
 * Bundles `source` into build-tsc/<name>-<pid>/<file> (inside the package, so that its dynamic
 * imports resolve natinv's packages); returns that path and a function that removes it.
 */
export function bundleScript(name: string, source: BundleSource, file = 'script.js'): { script: string; remove: () => void } {
  const dir = path.join(ROOT, 'build-tsc', `${name}-${process.pid}`);
  const outfile = path.join(dir, file);
  // Loaded here rather than imported: only process tests need the bundler.
  const esbuild = require('esbuild') as { buildSync(options: BuildOptions): BuildResult };
  esbuild.buildSync({
    ...('entry' in source
      ? { entryPoints: [source.entry] }
      : { stdin: { contents: source.contents, resolveDir: ROOT, sourcefile: `${name}.ts`, loader: 'ts' as const } }),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'silent',
  });
  return { script: outfile, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Bundles the CLI into build-tsc/<name>-<pid>/natinv.js; returns that path and a function that removes it. */
export function bundleCli(name: string): { script: string; remove: () => void } {
  return bundleScript(name, { entry: path.join(ROOT, 'src/cli/main.ts') }, 'natinv.js');
}

/** Starts a bundled script (the CLI, or one from bundleScript) with `args` in `cwd`. */
export function spawnCli(script: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [script, ...args], {
    cwd,
    env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Calls `onLine` with every complete line the stream prints. */
export function onLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let rest = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() as string;
    lines.forEach(onLine);
  });
}
