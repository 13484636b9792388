/**
 * Fixtures of the command-line tests: an in-process runner with captured output, tiny networks
 * saved as tfjs model folders, and CIFAR binary files written on the spot.
 */
import * as fs from 'fs';
import * as tfl from '@tensorflow/tfjs-layers';
import { saveModelFolder } from '../../src/models/model-folder';
import { EXIT } from '../../src/cli/io';
import { run } from '../../src/cli/run';
import { CIFAR_NORMALIZATION } from '../../src/models/teacher';
import { Random } from '../../src/util/random';

// The suite's backend (cpu unless NATINV_BACKEND says otherwise), used by every command.
export const BACKEND = process.env.NATINV_BACKEND ?? 'cpu';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** Working directory of this call instead of the runner's. */
  cwd?: string;
  signal?: AbortSignal;
  onStderr?: (text: string) => void;
}

/** A refused command line: its exit code, one line on stderr matching `message`, no stack trace, nothing on stdout. */
export function expectOneLineError(result: Captured, message: RegExp, code: number): void {
  expect(result.stderr.trimEnd()).toMatch(message);
  expect(result.code).toBe(code);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe('');
}

/** A failed command (exit 1): stderr matching `message`, no stack trace, nothing on stdout. */
export function expectFailure(result: Captured, message: RegExp): void {
  expect(result.stderr.trimEnd()).toMatch(message);
  expect(result.code).toBe(EXIT.failure);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe('');
}

/** A runner of the CLI in-process, in the folder `cwd()` returns, with captured output. */
export function cliRunner(cwd: () => string): (argv: string[], options?: CliOptions) => Promise<Captured> {
  return async (argv, options = {}) => {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: {
        write: (t: string) => {
          stderr += t;
          options.onStderr?.(t);
        },
      },
      env: options.env ?? { NATINV_BACKEND: BACKEND },
      cwd: options.cwd ?? cwd(),
      signal: options.signal,
    });
    return { code, stdout, stderr };
  };
}

/** conv(4, stride 2) -> BN -> ReLU -> conv(8, stride 2) -> BN -> ReLU -> pool -> Linear on 32x32 RGB. */
export function tiny32(seed: number, numClasses: number): tfl.LayersModel {
  const input = tfl.input({ shape: [32, 32, 3], name: 'input' });
  let x = tfl.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: 'conv1',
      kernelInitializer: tfl.initializers.heNormal({ seed }),
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1', epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'stage1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: 'conv2',
      kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn2', epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'stage2' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({ units: numClasses, name: 'linear', kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 2 }) })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: `tiny32_${seed}` });
}

/** A classifier pruneFilters does not support (a depthwise conv), on 8x8 RGB. */
export function depthwiseNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3], name: 'input' });
  let x = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 4, name: 'linear' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'dw' });
}

/** CIFAR-10 binary records with the given labels and random pixels. */
export function writeCifar(file: string, labels: readonly number[]): void {
  const random = new Random(labels.length);
  const bytes = new Uint8Array(labels.length * 3073);
  labels.forEach((label, n) => {
    bytes[n * 3073] = label;
    for (let i = 1; i < 3073; i++) bytes[n * 3073 + i] = random.int(0, 255);
  });
  fs.writeFileSync(file, bytes);
}

/**
 * Saves `model` as a tfjs model folder (disposing it), with natinv metadata (CIFAR normalization,
 * feature taps `stage2, stage1` unless `featureTaps` says otherwise) unless `withMetadata` is false.
 */
export async function saveTinyFolder(
  model: tfl.LayersModel,
  folder: string,
  withMetadata = true,
  featureTaps = ['stage2', 'stage1'],
): Promise<void> {
  const name = folder.split(/[/\\]/).pop() as string;
  const normalization = { mean: [...CIFAR_NORMALIZATION.mean], std: [...CIFAR_NORMALIZATION.std] };
  await saveModelFolder(model, folder, withMetadata ? { name, normalization, featureTaps } : undefined);
  model.dispose();
}
