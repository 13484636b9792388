/**
 * A fake trainer for the dataset tests: batch i is computed from (seed, i) alone, like the real
 * trainers, without a model. Also loaded by the kill -9 test's child process.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { SynthesizedBatch } from '../src/synthesis/batch';
import { Random, deriveSeed } from '../src/util/random';

export interface FakeTrainerOptions {
  seed?: number;
  batchSize?: number;
  height?: number;
  width?: number;
  channels?: number;
  classes?: number;
  /** Milliseconds to wait before yielding each batch. */
  delayMs?: number;
  /** Throw after yielding this many batches (simulates a crash). */
  failAfter?: number;
}

/** The configuration a fake run stores in its manifest. */
export function fakeConfiguration(options: FakeTrainerOptions = {}): Record<string, unknown> {
  return {
    method: 'fake',
    teacher: 'none',
    normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    options: { seed: options.seed ?? 7, batchSize: options.batchSize ?? 4, steps: 3 },
  };
}

/** Batch `index` of a fake run: pure function of (seed, index). */
export function fakeBatch(index: number, options: FakeTrainerOptions = {}): SynthesizedBatch {
  const seed = options.seed ?? 7;
  const count = options.batchSize ?? 4;
  const height = options.height ?? 8;
  const width = options.width ?? 8;
  const channels = options.channels ?? 3;
  const classes = options.classes ?? 10;
  const random = new Random(deriveSeed(seed, index));
  // Unclipped images around the [0, 1] range under a mean 0.5 / std 0.25 normalization.
  const images = new Float32Array(count * height * width * channels).map(() => 6 * random.next() - 3);
  const images01 = images.map((v) => Math.min(1, Math.max(0, v * 0.25 + 0.5)));
  const targets = new Int32Array(count).map((_, n) => (index * count + n) % classes);
  const confidence = new Float32Array(count).map(() => random.next());
  const predictions = new Int32Array(count).map(() => random.int(0, classes - 1));
  const loss = 1 + random.next();
  return {
    index,
    method: 'fake',
    seed,
    teacher: 'none',
    shape: [count, height, width, channels],
    images,
    normalization: { mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.25) },
    images01,
    targets,
    confidence,
    predictions,
    loss,
    terms: { ce: loss / 2, bn: loss / 4, tv: loss / 4 },
    steps: 3,
  };
}

/** A trainer for synthesizeToFolder that records the indices it is asked for. */
export function fakeTrainer(options: FakeTrainerOptions = {}): {
  trainer: (indices: number[], signal?: AbortSignal) => AsyncIterable<SynthesizedBatch>;
  calls: number[][];
} {
  const calls: number[][] = [];
  async function* trainer(indices: number[], signal?: AbortSignal): AsyncGenerator<SynthesizedBatch> {
    calls.push([...indices]);
    let yielded = 0;
    for (const index of indices) {
      if (signal?.aborted === true) throw new Error('aborted');
      if (options.failAfter !== undefined && yielded >= options.failAfter) throw new Error('trainer crashed');
      if (options.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      yield fakeBatch(index, options);
      yielded++;
    }
  }
  return { trainer, calls };
}

/** A fresh folder under os.tmpdir(); remove it with removeTempDir. */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `natinv-${prefix}-`));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
