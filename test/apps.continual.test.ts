import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { continualLearning, extendClassifier } from '../src/apps/continual';
import { trainFromScratch } from '../src/apps/supervised';
import { IMAGENET_NORMALIZATION, Teacher } from '../src/models/teacher';
import { normalize } from '../src/synthesis/batch';
import { tapNetwork } from '../src/taps';
import { accuracy01, asBatches, predictions01, tinyNet, toyImages } from './apps.fixtures';

const normalization = IMAGENET_NORMALIZATION;
const SIZE = 8 * 8 * 3;

/** The images of `images` whose label passes `keep`. */
function subset(data: { images01: Float32Array; labels: Int32Array }, keep: (label: number) => boolean) {
  const picked = [...data.labels.keys()].filter((i) => keep(data.labels[i]));
  const images01 = new Float32Array(picked.length * SIZE);
  picked.forEach((i, k) => images01.set(data.images01.subarray(i * SIZE, (i + 1) * SIZE), k * SIZE));
  return { images01, labels: Int32Array.from(picked.map((i) => data.labels[i])) };
}

const all = toyImages(64, 4, 1);
const heldOut = toyImages(48, 4, 2);
const oldTrain = subset(all, (l) => l < 2);
const newTrain = subset(all, (l) => l >= 2);
// Stand-ins for images synthesized from the old model: other images of the old classes (their labels are never used).
const synthesized = asBatches(subset(toyImages(32, 4, 3), (l) => l < 2).images01, new Int32Array(16), 8);
const oldTest = subset(heldOut, (l) => l < 2);
const newTest = subset(heldOut, (l) => l >= 2);
let old: Teacher;

beforeAll(async () => {
  const model = tinyNet({ seed: 31, numClasses: 2, name: 'old' });
  await trainFromScratch({
    model,
    images: asBatches(oldTrain.images01, oldTrain.labels, 16),
    normalization,
    epochs: 6,
    batchSize: 16,
    learningRate: 0.1,
  });
  model.trainable = false;
  old = { name: 'old', model, normalization, numClasses: 2, inputShape: [8, 8, 3], featureTaps: [] };
});

test('the old model knows the old classes', async () => {
  expect(await accuracy01(old, oldTest.images01, oldTest.labels, normalization)).toBeGreaterThan(0.9);
});

test('extendClassifier keeps every old output and adds seeded new ones', () => {
  const extended = extendClassifier(old.model, { numClasses: 4, seed: 1 });
  expect(extended.outputs[0].shape).toEqual([null, 4]);
  expect(extended.layers.map((l) => l.name)).toEqual(old.model.layers.map((l) => l.name));
  const [a, b] = tf.tidy(() => {
    const x = normalize(tf.tensor4d(heldOut.images01, [48, 8, 8, 3]), normalization);
    return [tapNetwork(extended).forward(x).logits, tapNetwork(old.model).forward(x).logits];
  });
  const sliced = tf.tidy(() => tf.slice(a, [0, 0], [48, 2]));
  expect(Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(sliced, b))).dataSync()))).toBeLessThan(1e-5);
  const again = extendClassifier(old.model, { numClasses: 4, seed: 1 });
  expect(Array.from(again.getLayer('linear').getWeights()[0].dataSync())).toEqual(
    Array.from(extended.getLayer('linear').getWeights()[0].dataSync()),
  );
  tf.dispose([a, b, sliced]);
  expect(() => extendClassifier(old.model, { numClasses: 2 })).toThrow(/must exceed the model's 2 outputs/);
});

async function learn(kdWeight: number, student: tfl.LayersModel) {
  return continualLearning({
    oldModel: old,
    oldClasses: 2,
    newData: { images01: newTrain.images01, labels: newTrain.labels },
    synthesized,
    student,
    kdWeight,
    epochs: 5,
    batchSize: 16,
    synthesizedBatchSize: 8,
    learningRate: 0.05,
    testSet: { images01: heldOut.images01, labels: heldOut.labels },
  });
}

/** How often the student's argmax over the old outputs matches the old model's, on old-class test images. */
async function oldOutputAgreement(student: tfl.LayersModel): Promise<number> {
  const oldPredictions = await predictions01(old, oldTest.images01, normalization);
  const restricted = tf.tidy(() => {
    const x = normalize(tf.tensor4d(oldTest.images01, [oldTest.labels.length, 8, 8, 3]), normalization);
    return tf.argMax(tf.slice(tapNetwork(student).forward(x).logits, [0, 0], [-1, 2]), -1).dataSync();
  });
  return restricted.filter((p, i) => p === oldPredictions[i]).length / restricted.length;
}

test('continualLearning learns the new classes while the KD term on synthesized images keeps the old outputs in agreement', async () => {
  const student = extendClassifier(old.model, { numClasses: 4, seed: 1 });
  const newBefore = await accuracy01(student, newTest.images01, newTest.labels, normalization);
  const tensors = tf.memory().numTensors;
  const result = await learn(1, student);
  expect(tf.memory().numTensors).toBe(tensors);
  const last = result.history[result.history.length - 1];
  expect(Object.keys(last.terms).sort()).toEqual(['ce', 'kd']);
  expect(last.terms.ce).toBeLessThan(result.history[0].terms.ce);
  expect(last.testMetrics?.newClassAccuracy).toBeGreaterThan(Math.max(newBefore, 0.7));
  const kept = await oldOutputAgreement(student);

  expect(kept).toBeGreaterThan(0.9);

  // Without the KD term the same run drifts further from the old model and forgets more of the old classes.
  const baseline = (await learn(0, extendClassifier(old.model, { numClasses: 4, seed: 1 }))).history[4];
  expect(last.terms.kd).toBeLessThan(baseline.terms.kd);
  expect(last.testMetrics?.oldClassAccuracy).toBeGreaterThan(baseline.testMetrics?.oldClassAccuracy as number);
});

test('continualLearning explains wrong inputs', async () => {
  const student = extendClassifier(old.model, { numClasses: 4, seed: 1 });
  const base = { oldModel: old, oldClasses: 2, newData: { images01: newTrain.images01, labels: newTrain.labels }, synthesized, student };
  await expect(continualLearning({ ...base, oldClasses: 3 })).rejects.toThrow(/oldClasses is 3 but the old model has 2 outputs/);
  await expect(continualLearning({ ...base, student: tinyNet({ seed: 1, numClasses: 2 }) })).rejects.toThrow(
    /needs the 2 old classes plus at least one new one/,
  );
  await expect(continualLearning({ ...base, student: old.model })).rejects.toThrow(/same model/);
  await expect(continualLearning({ ...base, oldModel: old.model })).rejects.toThrow(/normalization is required/);
  await expect(
    continualLearning({ ...base, newData: { images01: newTrain.images01, labels: newTrain.labels.map(() => 4) } }),
  ).rejects.toThrow(/label 4 at index 0/);
  await expect(continualLearning({ ...base, synthesized: [] })).rejects.toThrow(/synthesized holds no images/);
});
