/**
 * The examples, built and run the way examples/README.md says: bundled by esbuild, run by node
 * on the suite's backend (cpu unless NATINV_BACKEND says otherwise), writing into a temp folder.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readBatch } from '../src/dataset';

const ROOT = path.resolve(__dirname, '..');
// Inside the repository, so the bundles find node_modules and the bundled teacher's assets.
const BUILD = path.join(ROOT, 'build-tsc', `examples-test-${process.pid}`);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-examples-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(BUILD, { recursive: true, force: true });
});

function buildAndRun(name: string, out: string): { status: number | null; stdout: string; stderr: string } {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = path.join(BUILD, `${name}.js`);
  esbuild.buildSync({
    entryPoints: [path.join(ROOT, 'examples', `${name}.ts`)],
    bundle: true,
    platform: 'node',
    packages: 'external',
    outfile,
    logLevel: 'silent',
  });
  const env = { ...process.env, NATINV_BACKEND: process.env.NATINV_BACKEND ?? 'cpu', TF_CPP_MIN_LOG_LEVEL: '2' };
  return spawnSync(process.execPath, [outfile, out], { cwd: ROOT, encoding: 'utf8', env });
}

it('quickstart writes one NaturalInversion batch and its grid', async () => {
  const out = path.join(tmp, 'quickstart');
  const result = buildAndRun('quickstart', out);
  expect(result.stderr).not.toMatch(/Error/);
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^batch 0: loss \d+\.\d, grid .*batch-000000\.png$/m);
  const batch = await readBatch(path.join(out, 'batches', 'batch-000000.safetensors'));
  expect(batch.method).toBe('naturalInversion');
  expect(batch.shape).toEqual([2, 32, 32, 3]);
  expect(fs.readdirSync(path.join(out, 'images', 'batch-000000'))).toHaveLength(2);
});

it('custom-regularizer reports its diversity term every step and writes the batch', async () => {
  const out = path.join(tmp, 'custom');
  const result = buildAndRun('custom-regularizer', out);
  expect(result.stderr).not.toMatch(/Error/);
  expect(result.status).toBe(0);
  const steps = result.stdout.match(/^step \d+: diversity (-?\d+\.\d{3}), bn \d+\.\d$/gm) ?? [];
  expect(steps).toHaveLength(5);
  const batch = await readBatch(path.join(out, 'batches', 'batch-000000.safetensors'));
  expect(Object.keys(batch.terms).sort()).toEqual(['bn', 'ce', 'diversity', 'tv']);
  expect(batch.terms.diversity).toBeGreaterThan(-1);
  expect(batch.terms.diversity).toBeLessThanOrEqual(1);
});
