/**
 * The package as a user gets it: built, packed with `npm pack`, installed into an empty project
 * from npm's cache alone (no network), and run from that project's node_modules/.bin with the
 * wasm backend, which natinv ships as a dependency. Catches what only the tarball can show: a
 * file left out of `files`, a package imported but not declared, a bin that does not start.
 *
 * Offline, npm can resolve nothing (the cache holds tarballs, not registry metadata), so the
 * project gets a lockfile: natinv from the tarball, and its dependencies and peers at the versions
 * this repository's lockfile pins (its entries not marked dev), which `npm ci` fetches by integrity.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readBatch } from '../src/dataset';

const ROOT = path.resolve(__dirname, '..');
const packageJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
};

let stage: string;
let project: string;
beforeAll(() => {
  stage = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-package-'));
  project = path.join(stage, 'project');
  // A copy of what `files` ships, with dist built into it, so the repository's own dist is untouched.
  const packageDir = path.join(stage, 'package');
  fs.mkdirSync(packageDir);
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(packageDir, 'package.json'));
  for (const entry of packageJson.files.filter((file) => file !== 'dist')) {
    fs.cpSync(path.join(ROOT, entry), path.join(packageDir, entry), { recursive: true });
  }
  execFileSync(path.join(ROOT, 'node_modules/.bin/tsup'), ['--silent', '--out-dir', path.join(packageDir, 'dist')], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  const npm = (args: string[], cwd: string): string =>
    execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', stdio: 'pipe' });
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', stage], packageDir)) as Array<{
    filename: string;
    integrity: string;
  }>;
  fs.mkdirSync(project);
  const resolved = `file:../${packed.filename}`;
  const manifest = { name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { [packageJson.name]: resolved } };
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify(manifest, null, 2));
  fs.writeFileSync(
    path.join(project, 'package-lock.json'),
    JSON.stringify(consumerLockfile(manifest, resolved, packed.integrity), null, 2),
  );
  npm(['ci', '--offline'], project);
}, 300_000);
afterAll(() => fs.rmSync(stage, { recursive: true, force: true }));

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  [field: string]: unknown;
}

/** The consumer's lockfile: natinv from the tarball, the rest as this repository pins it for production. */
function consumerLockfile(manifest: object, resolved: string, integrity: string): object {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const root = lock.packages[''];
  const production = Object.entries(lock.packages).filter(([key, entry]) => key !== '' && entry.dev !== true && entry.devOptional !== true);
  const natinv: LockEntry = {
    version: packageJson.version,
    resolved,
    integrity,
    ...Object.fromEntries(
      ['license', 'dependencies', 'bin', 'engines', 'peerDependencies', 'peerDependenciesMeta'].map((f) => [f, root[f]]),
    ),
  };
  return {
    name: 'consumer',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': manifest, [`node_modules/${packageJson.name}`]: natinv, ...Object.fromEntries(production) },
  };
}

it('installs with its dependencies and peers from the tarball alone', () => {
  const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/natinv/package.json'), 'utf8')) as { version: string };
  expect(installed.version).toBe(packageJson.version);
  for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers']) {
    expect([name, fs.existsSync(path.join(project, 'node_modules', name, 'package.json'))]).toEqual([name, true]);
  }
});

it('runs `natinv synthesize --backend wasm` for two steps from the installed bin', async () => {
  const env = { ...process.env };
  delete env.NODE_PATH; // only the project's own node_modules
  delete env.NATINV_BACKEND;
  const result = spawnSync(
    path.join(project, 'node_modules/.bin/natinv'),
    ['synthesize', '--backend', 'wasm', '--method', 'di', '--batch-size', '2', '--steps', '2', '--out', 'out'],
    { cwd: project, encoding: 'utf8', env },
  );
  expect(result.stderr).toMatch(/^wrote 1 batch \(2 images\)/m);
  expect(result.status).toBe(0);
  const batch = await readBatch(path.join(project, 'out/batches/batch-000000.safetensors'));
  expect(batch.shape).toEqual([2, 32, 32, 3]);
  expect(batch.steps).toBe(2);
});

it('type-checks in a strict TypeScript project with nodenext resolution and skipLibCheck off, types intact', () => {
  // Were any of natinv's types to import a path the package's exports do not resolve, tsc would fail
  // on it here; were they to degrade to `any`, the expected error below would not happen.
  fs.writeFileSync(
    path.join(project, 'index.ts'),
    [
      "import { naturalInversion, type SynthesizedBatch } from 'natinv';",
      "import { loadBundledTeacher, readDataset } from 'natinv/node';",
      "const teacher = await loadBundledTeacher('cifar10-resnet20');",
      'const batches: AsyncGenerator<SynthesizedBatch> = naturalInversion(teacher, { batchSize: 2 });',
      '// @ts-expect-error batchSize is a number',
      "naturalInversion(teacher, { batchSize: 'two' });",
      "export const images = (await readDataset('out')).count + (await batches.next()).value.shape[0];",
      '',
    ].join('\n'),
  );
  const tsconfig = {
    compilerOptions: {
      target: 'es2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules/@types')],
    },
    files: ['index.ts'],
  };
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  const result = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], {
    cwd: project,
    encoding: 'utf8',
  });
  // tfjs-layers' own declarations do not pass skipLibCheck: false (TS2411 in its keras_format
  // files); what is checked is natinv's declarations and the consumer's code.
  const errors = result.stdout.split('\n').filter((line) => /node_modules\/natinv\/|^index\.ts\(|TS2307/.test(line));
  expect(errors).toEqual([]);
});
