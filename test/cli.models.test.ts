/**
 * `natinv inspect`, `convert` and `evaluate` in-process on the cpu backend: the bundled teacher's
 * BatchNorm layers, a safetensors -> tfjs folder -> safetensors round trip with identical tensors,
 * and accuracies on CIFAR records and on a synthesized folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readBatch } from '../src/dataset';
import { batchFilePath } from '../src/dataset/format';
import { parseSafetensors } from '../src/io/safetensors';
import { EXIT } from '../src/cli/io';
import { run } from '../src/cli/run';
import { DATA_DIR } from './helpers/shared';

const ROOT = path.resolve(__dirname, '..');
const BUNDLED = path.join(ROOT, 'assets', 'cifar10_resnet20.safetensors');
const CIFAR10_LOSSLESS = path.join(DATA_DIR, 'cifar10', 'test_batch_first1017.bin.gz');

// The suite's backend (cpu unless NATINV_BACKEND says otherwise), used by every command here.
const BACKEND = process.env.NATINV_BACKEND ?? 'cpu';

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process on the cpu backend with captured output. */
async function cli(argv: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: { NATINV_BACKEND: BACKEND },
    cwd: tmp,
  });
  return { code, stdout, stderr };
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-models-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('natinv inspect', () => {
  it('lists the 19 BatchNorm layers of the bundled teacher with shapes, and its default taps', async () => {
    const { code, stdout, stderr } = await cli(['inspect', 'cifar10-resnet20']);
    expect(stderr).toBe('');
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('input 32x32x3, 10 classes, 271,098 parameters');
    expect(stdout).toContain('19 BatchNorm layers (R_BN compares the statistics of their inputs), in model order:');
    expect(stdout).toMatch(/^ {2}bn1 +32x32x16$/m);
    expect(stdout).toMatch(/^ {2}layer3\.2\.bn2 +8x8x64$/m);
    expect(stdout).toMatch(/^ {2}\* layer2\.2 +16x16x32 +ReLU$/m);
    expect(stdout).toContain('* = default feature taps (layer3.2, layer2.2, layer1.2)');
  });

  it('--json gives the same as data', async () => {
    const { code, stdout } = await cli(['inspect', '--json']);
    expect(code).toBe(EXIT.ok);
    const report = JSON.parse(stdout) as {
      batchNorm: Array<{ layer: string; shape: number[] }>;
      taps: Array<{ layer: string; defaultTap: boolean }>;
    };
    expect(report.batchNorm).toHaveLength(19);
    expect(report.batchNorm[0]).toEqual({ layer: 'bn1', shape: [32, 32, 16] });
    expect(report.taps.filter((t) => t.defaultTap).map((t) => t.layer)).toEqual(['layer1.2', 'layer2.2', 'layer3.2']);
  });

  it('inspects an architecture without weights', async () => {
    const { code, stdout } = await cli(['inspect', '--arch', 'resnet32']);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toContain('resnet32 (freshly initialised, no weights)');
    expect(stdout).toContain('31 BatchNorm layers');
  });
});

describe('natinv convert', () => {
  it('safetensors -> tfjs folder -> safetensors gives identical tensors, and the folder is a teacher', async () => {
    const toTfjs = await cli(['convert', BUNDLED, '--arch', 'resnet20', '--out', 'tfjs']);
    expect(toTfjs.stderr).toBe('');
    expect(toTfjs.code).toBe(EXIT.ok);
    const folder = path.join(tmp, 'tfjs');
    expect(fs.readdirSync(folder).sort()).toEqual(['model.json', 'weights.bin']);
    const modelJson = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
    expect(modelJson.format).toBe('layers-model');
    expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(modelJson.userDefinedMetadata.natinv).toEqual({
      name: 'cifar10_resnet20',
      arch: 'resnet20',
      normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      featureTaps: ['layer3.2', 'layer2.2', 'layer1.2'],
      classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
    });

    const back = await cli(['convert', 'tfjs', '--out', 'back.safetensors']);
    expect(back.code).toBe(EXIT.ok);
    expect(back.stdout).toContain('97 tensors with PyTorch names and layouts');
    const original = parseSafetensors(new Uint8Array(fs.readFileSync(BUNDLED)));
    const roundTrip = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(tmp, 'back.safetensors'))));
    expect(Object.keys(roundTrip.tensors).sort()).toEqual(Object.keys(original.tensors).sort());
    for (const [name, tensor] of Object.entries(original.tensors)) {
      const copy = roundTrip.tensors[name];
      expect([name, copy.shape]).toEqual([name, tensor.shape]);
      expect([name, Buffer.from(copy.data.buffer).equals(Buffer.from(tensor.data.buffer))]).toEqual([name, true]);
    }

    // The folder loads without tfjs-node and carries its normalization and taps.
    const inspect = await cli(['inspect', 'tfjs/model.json']);
    expect(inspect.code).toBe(EXIT.ok);
    expect(inspect.stdout).toContain('normalization: mean 0.485,0.456,0.406 std 0.229,0.224,0.225');
    expect(inspect.stdout).toContain('19 BatchNorm layers');
    expect(inspect.stdout).toContain('* = default feature taps (layer3.2, layer2.2, layer1.2)');
  });

  it('refuses flags that do not apply to the direction', async () => {
    const { code, stderr } = await cli(['convert', 'tfjs', '--arch', 'resnet20', '--out', 'x.safetensors']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toBe('natinv convert: --arch applies when converting .safetensors weights; a tfjs model folder carries its own.\n');
    const wrongOut = await cli(['convert', 'tfjs', '--out', 'x.bin']);
    expect(wrongOut.code).toBe(EXIT.usage);
    expect(wrongOut.stderr).toContain('--out must name a .safetensors file');
  });
});

describe('natinv evaluate', () => {
  it('scores the bundled teacher and its converted folder alike on lossless CIFAR-10 test images', async () => {
    const bundled = await cli(['evaluate', '--data', CIFAR10_LOSSLESS, '--limit', '16', '--json']);
    expect(bundled.code).toBe(EXIT.ok);
    const result = JSON.parse(bundled.stdout) as {
      accuracy: number;
      correct: number;
      count: number;
      perClass: Array<{ name: string; total: number }>;
    };
    expect(result.count).toBe(16);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.75);
    expect(result.perClass.map((p) => p.name)).toContain('airplane');
    expect(result.perClass.reduce((n, p) => n + p.total, 0)).toBe(16);

    const folder = await cli(['evaluate', '--teacher', 'tfjs', '--data', CIFAR10_LOSSLESS, '--limit', '16']);
    expect(folder.code).toBe(EXIT.ok);
    expect(folder.stdout).toContain(
      `top-1 accuracy ${(100 * result.accuracy).toFixed(2)}% (${result.correct} of 16 images): cifar10_resnet20 on cifar10 file`,
    );
    expect(folder.stdout).toMatch(/^per class:\n {2}airplane +\d+\.\d% \(\d+\/\d+\)/m);
  });

  it('scores a synthesized folder against its targets', async () => {
    const made = await cli(['synthesize', '--method', 'di', '--batch-size', '2', '--steps', '1', '--no-png', '--out', 'made']);
    expect(made.code).toBe(EXIT.ok);
    const batch = await readBatch(batchFilePath(path.join(tmp, 'made'), 0));
    const agree = batch.predictions.filter((p, i) => p === batch.targets[i]).length;
    const { code, stdout } = await cli(['evaluate', '--data', 'made', '--json']);
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(stdout)).toMatchObject({ event: 'accuracy', correct: agree, count: 2 });
  });

  it('explains a wrong layout', async () => {
    const { code, stderr } = await cli(['evaluate', '--data', CIFAR10_LOSSLESS, '--layout', 'cifar100', '--limit', '5']);
    expect(code).toBe(EXIT.failure);
    expect(stderr).toMatch(/not a whole number of cifar100 records|outside 0\.\.\d+/);
  });
});
