import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { cosineRate, stepDecayRate } from '../src/apps/loop';
import { pruneFilters } from '../src/apps/prune';
import { fineTune, trainFromScratch } from '../src/apps/supervised';
import { IMAGENET_NORMALIZATION, Teacher } from '../src/models/teacher';
import { kdLoss } from '../src/objectives/losses';
import { normalize } from '../src/synthesis/batch';
import { tapNetwork } from '../src/taps';
import { accuracy01, asBatches, predictions01, tinyNet, toyImages } from './apps.fixtures';

const normalization = IMAGENET_NORMALIZATION;
const train = toyImages(64, 4, 1);
const heldOut = toyImages(32, 4, 2);
const pool = asBatches(train.images01, train.labels, 16);
const test_ = { images01: heldOut.images01, labels: heldOut.labels };

function weightsOf(model: tfl.LayersModel): number[][] {
  return model.weights.map((w) => Array.from(w.read().dataSync()));
}

describe('trainFromScratch', () => {
  test('lowers the cross-entropy and learns the toy classes; leaks nothing', async () => {
    const model = tinyNet({ seed: 21 });
    const before = await accuracy01(model, heldOut.images01, heldOut.labels, normalization);
    const tensors = tf.memory().numTensors;
    const rates: number[] = [];
    const result = await trainFromScratch({
      model,
      images: pool,
      normalization,
      epochs: 4,
      batchSize: 16,
      learningRate: 0.1,
      testSet: test_,
      onStep: (r) => void rates.push(r.learningRate),
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const losses = result.history.map((r) => r.terms.ce);
    expect(losses[3]).toBeLessThan(losses[0] * 0.6);
    expect(rates).toEqual(Array.from({ length: 16 }, (_, i) => cosineRate(0.1)(i, 16)));
    expect(result.testAccuracy).toBeGreaterThan(Math.max(before, 0.6));
  });

  test("schedules: cosine from the rate to 0 per step; 'step' divides by 10 at half and at three quarters of the steps", () => {
    const cosine = cosineRate(0.05);
    [0.05, 0.05 * (0.5 + 0.5 * Math.cos(Math.PI / 4)), 0.025, 0.05 * (0.5 + 0.5 * Math.cos((3 * Math.PI) / 4))].forEach((r, i) =>
      expect(cosine(i, 4)).toBeCloseTo(r, 10),
    );
    const step = stepDecayRate(0.05);
    [0.05, 0.05, 0.005, 0.0005].forEach((r, i) => expect(step(i, 4)).toBeCloseTo(r, 10));
  });

  test('explains wrong inputs', async () => {
    const model = tinyNet({ seed: 21 });
    const noTargets = { images01: train.images01, count: 64, shape: [64, 8, 8, 3] as [number, number, number, number] };
    await expect(trainFromScratch({ model, images: pool } as never)).rejects.toThrow(/normalization is required/);
    await expect(trainFromScratch({ model, images: noTargets, normalization })).rejects.toThrow(/carry no targets/);
    await expect(trainFromScratch({ model, images: { ...noTargets, targets: new Int32Array(64).fill(7) }, normalization })).rejects.toThrow(
      /label 7 at index 0 is not a class of a 4-class model/,
    );
    await expect(trainFromScratch({ model, images: pool, normalization, schedule: 'linear' as never })).rejects.toThrow(
      /'cosine', 'step' or a function/,
    );
    await expect(trainFromScratch({ model, images: pool, normalization: { mean: [0.5], std: [0, 1] } })).rejects.toThrow(
      /mean and std arrays of equal length/,
    );
    const frozen = tinyNet({ seed: 21 });
    frozen.trainable = false;
    await expect(trainFromScratch({ model: frozen, images: pool, normalization, epochs: 1 })).rejects.toThrow(/no trainable weights/);
  });
});

describe('fineTune', () => {
  let teacher: Teacher;
  beforeAll(async () => {
    const model = tinyNet({ seed: 11, name: 'teacher' });
    await trainFromScratch({ model, images: pool, normalization, epochs: 6, batchSize: 16, learningRate: 0.1 });
    model.trainable = false;
    teacher = { name: 'toy', model, normalization, numClasses: 4, inputShape: [8, 8, 3], featureTaps: [] };
  });

  test("with the teacher's soft labels, a pruned network moves back toward the teacher; the teacher is untouched", async () => {
    const { model: pruned } = pruneFilters(teacher.model, { ratio: 0.5 });
    const agreement = { images01: heldOut.images01, labels: await predictions01(teacher, heldOut.images01, normalization) };
    // KD loss on held-out images: how far the pruned network's outputs are from the teacher's.
    const distance = () =>
      tf.tidy(() => {
        const x = normalize(tf.tensor4d(heldOut.images01, [32, 8, 8, 3]), normalization);
        return kdLoss(tapNetwork(pruned).forward(x).logits, tapNetwork(teacher.model).forward(x).logits, 4).dataSync()[0];
      });
    const before = { distance: distance(), agreement: await accuracy01(pruned, heldOut.images01, agreement.labels, normalization) };
    const teacherWeights = weightsOf(teacher.model);
    const result = await fineTune({
      model: pruned,
      images: pool,
      teacher,
      labels: 'teacher',
      temperature: 4,
      epochs: 4,
      batchSize: 16,
      learningRate: 0.05,
      testSet: agreement,
    });
    expect(result.history[3].terms.kd).toBeLessThan(result.history[0].terms.kd);
    expect(distance()).toBeLessThan(before.distance * 0.7);
    expect(result.testAccuracy).toBeGreaterThanOrEqual(before.agreement);
    expect(weightsOf(teacher.model)).toEqual(teacherWeights);
  });

  test('with the target labels it lowers the cross-entropy at a constant rate', async () => {
    const { model: pruned } = pruneFilters(teacher.model, { ratio: 0.75 });
    const rates = new Set<number>();
    const result = await fineTune({
      model: pruned,
      images: pool,
      teacher,
      epochs: 3,
      batchSize: 16,
      learningRate: 0.05,
      onStep: (r) => void rates.add(r.learningRate),
    });
    expect(Object.keys(result.history[0].terms)).toEqual(['ce']);
    expect(result.history[2].terms.ce).toBeLessThan(result.history[0].terms.ce);
    expect([...rates]).toEqual([0.05]);
  });

  test('explains wrong inputs', async () => {
    const model = tinyNet({ seed: 3 });
    await expect(fineTune({ model, images: pool, labels: 'teacher', normalization })).rejects.toThrow(
      /labels 'teacher' needs options.teacher/,
    );
    await expect(fineTune({ model, images: pool, labels: 'soft' as never, teacher })).rejects.toThrow(
      /labels must be 'targets' or 'teacher'/,
    );
    await expect(fineTune({ model, images: pool })).rejects.toThrow(/normalization is required/);
    await expect(fineTune({ model: teacher.model, images: pool, teacher })).rejects.toThrow(/same model/);
  });
});

describe('testSet', () => {
  test('pixels in [0, 1] (host or tensor) and normalized tensors give the same per-epoch accuracy as the metrics evaluate', async () => {
    const accuracies: number[] = [];
    const x01 = tf.tensor4d(heldOut.images01, [32, 8, 8, 3]);
    const x = tf.tidy(() => normalize(x01, normalization));
    const labels = tf.tensor1d(heldOut.labels, 'int32');
    for (const testSet of [test_, { images01: x01, labels }, { images: x, labels: heldOut.labels }]) {
      const model = tinyNet({ seed: 8 });
      const result = await trainFromScratch({
        model,
        images: pool,
        normalization,
        steps: 1,
        batchSize: 16,
        testSet,
        evaluationBatchSize: 5,
      });
      accuracies.push(result.testAccuracy as number);
      expect(result.testAccuracy).toBeCloseTo(await accuracy01(model, heldOut.images01, heldOut.labels, normalization), 10);
    }
    expect(new Set(accuracies).size).toBe(1);
    tf.dispose([x01, x, labels]);
  });

  test('explains wrong inputs', async () => {
    const model = tinyNet({ seed: 4 });
    const run = (testSet: unknown) => trainFromScratch({ model, images: pool, normalization, steps: 1, testSet: testSet as never });
    await expect(run({ images: heldOut.images01, labels: heldOut.labels })).rejects.toThrow(/give host pixels in \[0, 1\] as images01/);
    await expect(run({ labels: heldOut.labels })).rejects.toThrow(/exactly one of images01/);
    await expect(run({ images01: heldOut.images01, labels: [...heldOut.labels].fill(4) })).rejects.toThrow(/label 4 at index 0/);
    await expect(run({ images01: new Float32Array(100), labels: [] })).rejects.toThrow(/not a whole number of 8x8x3 images/);
    const nchw = tf.zeros([2, 3, 8, 8]);
    await expect(run({ images: nchw, labels: [0, 1] })).rejects.toThrow(/\[2, 3, 8, 8\] do not fit a model taking \[N, 8, 8, 3\]/);
    nchw.dispose();
  });
});
