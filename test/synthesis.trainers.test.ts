import * as tf from '@tensorflow/tfjs-core';
import { adaptiveDeepInversion, deepInversion, naturalInversion, SynthesizedBatch, Teacher } from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

const small = { batchSize: 4, steps: 3 };
const tinyGenerator = { latentSize: 16, baseWidth: 8 };

async function collect(batches: AsyncIterable<SynthesizedBatch>): Promise<SynthesizedBatch[]> {
  const out: SynthesizedBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

function checkBatch(batch: SynthesizedBatch, teacher: Teacher, method: string): void {
  expect(batch.method).toBe(method);
  expect(batch.shape).toEqual([4, 8, 8, 3]);
  expect(batch.images01).toHaveLength(4 * 8 * 8 * 3);
  expect(Math.min(...batch.images01)).toBeGreaterThanOrEqual(0);
  expect(Math.max(...batch.images01)).toBeLessThanOrEqual(1);
  // images01 is the unclipped normalized image mapped to [0, 1] and clipped.
  expect(batch.normalization).toEqual(teacher.normalization);
  expect(batch.images).toHaveLength(batch.images01.length);
  const { mean, std } = teacher.normalization;
  batch.images.forEach((v, i) => expect(batch.images01[i]).toBeCloseTo(Math.min(1, Math.max(0, v * std[i % 3] + mean[i % 3])), 6));
  expect(Array.from(batch.targets).every((t) => t >= 0 && t < teacher.numClasses)).toBe(true);
  expect(batch.confidence.every((c) => c >= 0 && c <= 1)).toBe(true);
  expect(Number.isFinite(batch.loss)).toBe(true);
}

describe('trainers', () => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher();
  });

  test('deepInversion yields finished batches with one-to-one labels and every term', async () => {
    const batches = await collect(deepInversion(teacher, { ...small, batches: 2 }));
    expect(batches.map((b) => b.index)).toEqual([0, 1]);
    batches.forEach((b) => checkBatch(b, teacher, 'deepInversion'));
    expect(Array.from(batches[0].targets).sort()).toEqual([0, 1, 2, 3]); // 4 classes cycled once
    expect(Object.keys(batches[0].terms)).toEqual(['ce', 'bn', 'tv']); // l2 weight 0 on CIFAR
  });

  test('deepInversion imagenet setting clips pixels to the valid range', async () => {
    // The normalized images themselves (not images01, which is always clipped) must map into [0, 1].
    const outOfRange = (batch: SynthesizedBatch) => {
      const { mean, std } = teacher.normalization;
      return Array.from(batch.images).filter((v, i) => {
        const pixel = v * std[i % 3] + mean[i % 3];
        return pixel < -1e-6 || pixel > 1 + 1e-6;
      }).length;
    };
    const [clipped] = await collect(deepInversion(teacher, { ...small, setting: 'imagenet', augmentation: undefined }));
    checkBatch(clipped, teacher, 'deepInversion');
    expect(Object.keys(clipped.terms)).toEqual(['ce', 'bn', 'tv', 'l2']);
    expect(outOfRange(clipped)).toBe(0);
    // The cifar setting does not clip: its N(0, 1) pixels leave the range, so the check above can fail.
    const [unclipped] = await collect(deepInversion(teacher, { ...small }));
    expect(outOfRange(unclipped)).toBeGreaterThan(0);
    // clipPixels overrides either setting's default.
    const [clippedCifar] = await collect(deepInversion(teacher, { ...small, clipPixels: true }));
    expect(outOfRange(clippedCifar)).toBe(0);
    const [unclippedImagenet] = await collect(deepInversion(teacher, { ...small, setting: 'imagenet', clipPixels: false }));
    expect(outOfRange(unclippedImagenet)).toBeGreaterThan(0);
  });

  test('naturalInversion yields finished batches', async () => {
    const [batch] = await collect(naturalInversion(teacher, { ...small, generator: tinyGenerator }));
    checkBatch(batch, teacher, 'naturalInversion');
    expect(Object.keys(batch.terms)).toEqual(['ce', 'bn', 'tv', 'l2']);
  });

  test('batch i is the same alone or after others (one-to-one seeding)', async () => {
    for (const method of [deepInversion, naturalInversion] as const) {
      const all = await collect(method(teacher, { ...small, batches: 3, seed: 5, generator: tinyGenerator }));
      const [alone] = await collect(method(teacher, { ...small, batchIndices: [2], seed: 5, generator: tinyGenerator }));
      expect(alone.index).toBe(2);
      expect(Array.from(alone.images01)).toEqual(Array.from(all[2].images01));
      expect(Array.from(alone.targets)).toEqual(Array.from(all[2].targets));
      expect(Array.from(all[0].images01)).not.toEqual(Array.from(all[1].images01));
    }
  });

  test('adaptiveDeepInversion adds the competition term and trains the student between batches', async () => {
    const student = tinyTeacher({ seed: 9 }).model;
    const pools: number[] = [];
    const batches = await collect(
      adaptiveDeepInversion(teacher, {
        ...small,
        batches: 2,
        competition: { student, trainStudent: async (pool) => void pools.push(pool.length) },
      }),
    );
    expect(batches.map((b) => b.method)).toEqual(['adaptiveDeepInversion', 'adaptiveDeepInversion']);
    expect(Object.keys(batches[0].terms)).toContain('competition');
    expect(pools).toEqual([1, 2]);
    expect(() =>
      adaptiveDeepInversion(teacher, { ...small, batchIndices: [1], competition: { student, trainStudent: async () => undefined } }),
    ).toThrow(/runs batches 0..n-1 in order; it cannot skip, resume or shard batches/);
  });

  test('an AbortSignal mid-batch keeps the finished batches and drops the unfinished one', async () => {
    const controller = new AbortController();
    const batches = await collect(
      deepInversion(teacher, {
        ...small,
        steps: 5,
        batches: 4,
        signal: controller.signal,
        onStep: ({ batch, step }) => (batch === 1 && step === 2 ? controller.abort() : undefined),
      }),
    );
    expect(batches.map((b) => b.index)).toEqual([0]);
  });

  test('ten batches of each trainer leak no tensors', async () => {
    const run = async () => {
      await collect(deepInversion(teacher, { ...small, steps: 2, batches: 10 }));
      await collect(naturalInversion(teacher, { ...small, steps: 2, batches: 10, generator: tinyGenerator }));
    };
    await collect(deepInversion(teacher, { ...small, steps: 1 })); // warm-up
    const before = tf.memory().numTensors;
    await run();
    expect(tf.memory().numTensors).toBe(before);
  });
});
