/** Metrics that run a network: accuracy, verifier accuracy, pooled features, inception score. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CIFAR_NORMALIZATION, IMAGENET_NORMALIZATION, SynthesizedBatch, Teacher, tapNetwork } from '../src/node';
import {
  classProbabilities,
  embedFeatures,
  evaluate,
  inceptionScore,
  inceptionScoreFromProbabilities,
  synthesizedImages,
  verifierAccuracy,
} from '../src/metrics';
import { tinyTeacher } from './helpers/tiny-teacher';

/** 1x1x3 images -> logits = the pixel: the predicted class is the brightest channel. */
function brightestChannel(): tfl.LayersModel {
  const input = tfl.input({ shape: [1, 1, 3], name: 'input' });
  const flat = tfl.layers.flatten({ name: 'flat' }).apply(input) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 3, name: 'linear' }).apply(flat) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits, name: 'brightest' });
  tf.tidy(() => model.getLayer('linear').setWeights([tf.eye(3), tf.zeros([3])]));
  return model;
}

/** Six images whose brightest channels are 0, 1, 2, 2, 1, 0. */
const PIXELS = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
  [0.1, 0.2, 0.3],
  [-1, 5, 2],
  [9, 8, 7],
];
const LABELS = [0, 1, 2, 0, 0, 0]; // right at 0, 1, 2 and 5

const images = (): tf.Tensor4D => tf.tensor4d(PIXELS.flat(), [6, 1, 1, 3]);

describe('evaluate and verifierAccuracy', () => {
  let model: tfl.LayersModel;
  beforeAll(() => {
    model = brightestChannel();
  });

  test('top-1 accuracy with its counts, in batches or whole, leaving no tensors behind', async () => {
    const x = images();
    const before = tf.memory().numTensors;
    for (const batchSize of [1, 4, 256]) {
      expect(await evaluate(model, { images: x, labels: LABELS }, { batchSize })).toEqual({ accuracy: 4 / 6, correct: 4, total: 6 });
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false); // a tensor given directly stays the caller's
    x.dispose();
  });

  test('an iterator of batches; its tensors are disposed after use', async () => {
    const first = tf.tensor4d(PIXELS.slice(0, 4).flat(), [4, 1, 1, 3]);
    const second = tf.tensor4d(PIXELS.slice(4).flat(), [2, 1, 1, 3]);
    async function* batches(): AsyncGenerator<tf.Tensor4D> {
      yield first;
      yield second;
    }
    const result = await evaluate(model, { images: batches(), labels: Int32Array.from(LABELS) }, { batchSize: 3 });
    expect(result.correct).toBe(4);
    expect(first.isDisposed && second.isDisposed).toBe(true);
  });

  test('verifierAccuracy takes a Teacher and targets as a tensor', async () => {
    const verifier: Teacher = { ...tinyTeacher(), model, inputShape: [1, 1, 3] };
    const x = images();
    const targets = tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32');
    expect(await verifierAccuracy(verifier, x, targets)).toEqual({ accuracy: 1, correct: 6, total: 6 });
    tf.dispose([x, targets]);
  });

  test('clear errors', async () => {
    const x = images();
    await expect(evaluate(model, { images: x, labels: [0, 1] })).rejects.toThrow(/6 images but 2 labels/);
    await expect(evaluate(model, { images: x, labels: [0, 1, 2, 3, 0, 0] })).rejects.toThrow(
      /label 3 at index 3 is not a class index in \[0, 3\)/,
    );
    await expect(evaluate(model, { images: x, labels: LABELS }, { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
    const wrong = tf.zeros([2, 2, 2, 3]) as tf.Tensor4D;
    await expect(verifierAccuracy(model, wrong, [0, 1])).rejects.toThrow(/takes images of shape \[N, 1, 1, 3\]/);
    tf.dispose([x, wrong]);
  });
});

describe('embedFeatures', () => {
  let teacher: Teacher;
  let x: tf.Tensor4D;
  beforeAll(() => {
    teacher = tinyTeacher();
    x = tf.randomNormal([7, 8, 8, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  });

  test('global-average-pools a rank-4 layer, batch size does not matter, no leaks', async () => {
    const expected = tf.tidy(() => {
      const { logits, features } = tapNetwork(teacher.model).forward(x, { features: ['stage2'] });
      logits.dispose();
      return tf.mean(features.get('stage2'), [1, 2]).dataSync();
    });
    const before = tf.memory().numTensors;
    const whole = await embedFeatures(teacher.model, x, { layer: 'stage2' });
    const batched = await embedFeatures(teacher.model, x, { layer: 'stage2', batchSize: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(whole.count).toBe(7);
    expect(whole.dimension).toBe(8);
    for (let i = 0; i < expected.length; i++) {
      expect(whole.data[i]).toBeCloseTo(expected[i], 5);
      expect(batched.data[i]).toBeCloseTo(expected[i], 5);
    }
    // The model's own global pooling layer (rank 2) gives the same numbers.
    const pooled = await embedFeatures(teacher.model, x, { layer: 'pool' });
    for (let i = 0; i < expected.length; i++) expect(pooled.data[i]).toBeCloseTo(expected[i], 5);
  });

  test("a Teacher defaults to its deepest feature tap; an iterator's batches are concatenated", async () => {
    const byDefault = await embedFeatures(teacher, x);
    const parts = [tf.slice(x, [0, 0, 0, 0], [4, -1, -1, -1]), tf.slice(x, [4, 0, 0, 0], [3, -1, -1, -1])] as tf.Tensor4D[];
    const iterated = await embedFeatures(teacher, parts, { layer: 'stage2' });
    expect(Array.from(iterated.data)).toEqual(Array.from(byDefault.data));
    expect(parts.every((p) => p.isDisposed)).toBe(true);
  });

  test('clear errors', async () => {
    await expect(embedFeatures(teacher.model, x)).rejects.toThrow(/options.layer is required.*stage2/);
    await expect(embedFeatures(teacher, x, { layer: 'nope' })).rejects.toThrow(/no layer named 'nope'/);
    await expect(embedFeatures(teacher, [])).rejects.toThrow(/no images/);
  });

  afterAll(() => x.dispose());
});

describe('inceptionScore with a classifier', () => {
  test('equals the score of its class probabilities', async () => {
    const teacher = tinyTeacher();
    const x = tf.randomNormal([20, 8, 8, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const { probabilities, numClasses, count } = await classProbabilities(teacher, x, { batchSize: 6 });
    expect(count).toBe(20);
    // Same batching as above: a different batch size may change the last float bits of the logits.
    const score = await inceptionScore(teacher, x, { splits: 2, batchSize: 6 });
    expect(score).toEqual(inceptionScoreFromProbabilities(probabilities, numClasses, { splits: 2 }));
    expect(score.mean).toBeGreaterThanOrEqual(1);
    expect(score.mean).toBeLessThanOrEqual(numClasses);
    x.dispose();
  });
});

describe('synthesizedImages', () => {
  const batch = (index: number, value01: number, unclipped: number, targets: number[]): SynthesizedBatch => ({
    index,
    method: 'deepInversion',
    seed: 0,
    teacher: 'tiny',
    shape: [targets.length, 1, 1, 3],
    images: new Float32Array(targets.length * 3).fill(unclipped),
    normalization: CIFAR_NORMALIZATION,
    images01: new Float32Array(targets.length * 3).fill(value01),
    targets: Int32Array.from(targets),
    confidence: new Float32Array(targets.length),
    predictions: Int32Array.from(targets),
    loss: 0,
    terms: {},
    steps: 1,
  });

  test('stacks the unclipped images, carried into the given normalization, with their targets', () => {
    const batches = [batch(0, 0.5, 7, [1, 2]), batch(1, 1, -3, [3])];
    const { images, labels } = synthesizedImages(batches, IMAGENET_NORMALIZATION);
    expect(images.shape).toEqual([3, 1, 1, 3]);
    expect(Array.from(labels)).toEqual([1, 2, 3]);
    const to = IMAGENET_NORMALIZATION;
    const from = CIFAR_NORMALIZATION;
    const values = images.dataSync();
    expect(values[0]).toBeCloseTo((7 * from.std[0] + from.mean[0] - to.mean[0]) / to.std[0], 5);
    expect(values[8]).toBeCloseTo((-3 * from.std[2] + from.mean[2] - to.mean[2]) / to.std[2], 5);
    images.dispose();
    // In the batches' own normalization the values are the stored ones, bit for bit.
    const same = synthesizedImages(batches, CIFAR_NORMALIZATION);
    expect(Array.from(same.images.dataSync())).toEqual([7, 7, 7, 7, 7, 7, -3, -3, -3]);
    same.images.dispose();
    expect(() => synthesizedImages([], IMAGENET_NORMALIZATION)).toThrow(/no batches/);
  });

  test('clipped: the [0, 1] images normalized', () => {
    const { images } = synthesizedImages([batch(0, 0.5, 7, [1]), batch(1, 1, -3, [3])], IMAGENET_NORMALIZATION, { clipped: true });
    const { mean, std } = IMAGENET_NORMALIZATION;
    const values = images.dataSync();
    expect(values[0]).toBeCloseTo((0.5 - mean[0]) / std[0], 5);
    expect(values[5]).toBeCloseTo((1 - mean[2]) / std[2], 5);
    images.dispose();
  });

  test('names a normalization of the wrong channel count', () => {
    expect(() => synthesizedImages([batch(0, 0.5, 0, [1])], { mean: [0], std: [1] })).toThrow(/1 means and 1 stds for 3-channel images/);
  });
});
