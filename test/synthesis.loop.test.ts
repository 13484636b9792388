import * as tf from '@tensorflow/tfjs-core';
import {
  bnStatistics,
  crossEntropy,
  DivergenceError,
  jitter,
  Objective,
  pixels,
  StepReport,
  synthesize,
  totalVariation,
  weighted,
} from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

const objective = () =>
  weighted([
    [1, crossEntropy()],
    [10, bnStatistics()],
    [1e-3, totalVariation('l2')],
  ]);
const targets = [0, 1, 2, 3];

let sharedTeacher: ReturnType<typeof tinyTeacher> | undefined;

async function run(seed: number, steps = 12, extra: Partial<Parameters<typeof synthesize>[0]> = {}) {
  const teacher = (sharedTeacher ??= tinyTeacher());
  const source = pixels({ batchSize: 4, imageShape: [8, 8, 3], seed, learningRate: 0.05 });
  try {
    return await synthesize({
      teacher,
      source,
      objective: objective(),
      steps,
      targets,
      augmentation: jitter({ maxShift: 1 }),
      seed,
      ...extra,
    });
  } finally {
    source.dispose();
  }
}

describe('synthesize', () => {
  test('lowers the loss, reports every term each step and keeps the best images', async () => {
    const reports: StepReport[] = [];
    const result = await run(0, 30, { onStep: (r) => void reports.push(r) });
    expect(reports).toHaveLength(30);
    expect(Object.keys(reports[0].terms)).toEqual(['ce', 'bn', 'tv_l2']);
    expect(reports[0].learningRates).toEqual({ pixels: 0.05 });
    expect(result.bestLoss).toBeLessThan(reports[0].loss * 0.8);
    expect(result.bestLoss).toBe(Math.min(...reports.map((r) => r.loss)));
    expect(result.images.shape).toEqual([4, 8, 8, 3]);
    expect(result.aborted).toBe(false);
    expect(Array.from(result.targets!)).toEqual(targets);
    result.images.dispose();
  });

  test('onStep hands a copy of the best images so far, for live previews', async () => {
    const previews: Float32Array[] = [];
    const result = await run(1, 6, {
      onStep: (r) => {
        const images = r.bestImages!();
        previews.push(images.dataSync() as Float32Array);
        images.dispose();
      },
    });
    expect(previews).toHaveLength(6);
    expect(previews[0]).not.toEqual(previews[5]);
    // After the last step the preview is exactly what the loop returns.
    expect(previews[5]).toEqual(result.images.dataSync());
    result.images.dispose();
  });

  test('is deterministic under a seed and differs across seeds', async () => {
    const a = await run(3);
    const b = await run(3);
    const c = await run(4);
    expect(Array.from(a.images.dataSync())).toEqual(Array.from(b.images.dataSync()));
    expect(Array.from(a.images.dataSync())).not.toEqual(Array.from(c.images.dataSync()));
    tf.dispose([a.images, b.images, c.images]);
  });

  test('never changes the teacher', async () => {
    const teacher = tinyTeacher();
    const before = teacher.model.getWeights().map((w) => Array.from(w.dataSync()));
    const source = pixels({ batchSize: 4, imageShape: [8, 8, 3], seed: 1 });
    const result = await synthesize({ teacher, source, objective: objective(), steps: 5, targets });
    expect(teacher.model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    result.images.dispose();
    source.dispose();
  });

  test('an AbortSignal stops after the current step with the best images so far', async () => {
    const controller = new AbortController();
    const result = await run(0, 50, { signal: controller.signal, onStep: (r) => (r.step === 3 ? controller.abort() : undefined) });
    expect(result.aborted).toBe(true);
    expect(result.steps).toBe(3);
    expect(result.images.shape).toEqual([4, 8, 8, 3]);
    result.images.dispose();
  });

  test('a non-finite loss raises DivergenceError naming the bad term', async () => {
    const broken: Objective = { name: 'broken', evaluate: ({ images }) => tf.div(tf.sum(images), 0) as tf.Scalar };
    const teacher = tinyTeacher();
    const source = pixels({ batchSize: 4, imageShape: [8, 8, 3], seed: 1 });
    const failing = synthesize({
      teacher,
      source,
      objective: weighted([
        [1, crossEntropy()],
        [1, broken],
      ]),
      steps: 5,
      targets,
    });
    await expect(failing).rejects.toThrow(DivergenceError);
    await expect(
      synthesize({
        teacher,
        source,
        objective: weighted([
          [1, crossEntropy()],
          [1, broken],
        ]),
        steps: 5,
        targets,
      }),
    ).rejects.toThrow(/synthesis diverged at step 1: the loss is no longer finite \(ce [0-9.]+, broken (-?Infinity|NaN)\)/);
    source.dispose();
  });

  test('refuses bad options with clear messages', async () => {
    const teacher = tinyTeacher();
    const source = pixels({ batchSize: 4, imageShape: [8, 8, 3], seed: 1 });
    await expect(synthesize({ teacher, source, objective: objective(), steps: 0, targets })).rejects.toThrow(
      'synthesize: steps must be a positive integer, got 0.',
    );
    await expect(synthesize({ teacher, source, objective: objective(), steps: 2 })).rejects.toThrow(
      'synthesize: the objective needs target labels (crossEntropy); pass options.targets.',
    );
    await expect(synthesize({ teacher, source, objective: objective(), steps: 2, targets: [0, 1] })).rejects.toThrow(
      'synthesize: 2 targets for a batch of 4 images; give one label per image.',
    );
    await expect(synthesize({ teacher, source, objective: objective(), steps: 2, targets: [0, 1, 2, 9] })).rejects.toThrow(
      "synthesize: target 9 (image 3) is not a class of 'tiny' (0..3).",
    );
    source.dispose();
  });

  test('leaks no tensors across runs', async () => {
    (await run(0, 3)).images.dispose(); // warm-up: lazily created state
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) (await run(i, 4)).images.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
