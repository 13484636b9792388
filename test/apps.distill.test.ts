import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { distill, studentTrainer } from '../src/apps/distill';
import { adaptiveDeepInversion } from '../src/synthesis/methods';
import { trainFromScratch } from '../src/apps/supervised';
import { readSafetensorsFile } from '../src/io/files';
import { checkpointFolder, loadTrainingCheckpoint } from '../src/apps/checkpoint-folder';
import type { TrainingSnapshot } from '../src/apps/checkpoint';
import { IMAGENET_NORMALIZATION, Teacher } from '../src/models/teacher';
import { loadPytorchWeights } from '../src/models/pytorch-weights';
import { accuracy01, asBatches, predictions01, tinyNet, toyImages } from './apps.fixtures';

const normalization = IMAGENET_NORMALIZATION;

function asTeacher(model: tfl.LayersModel): Teacher {
  return { name: 'toy-teacher', model, normalization, numClasses: 4, inputShape: [8, 8, 3], featureTaps: ['relu2', 'relu1'] };
}

function weightsOf(model: tfl.LayersModel): Float32Array[] {
  return model.weights.map((w) => Float32Array.from(w.read().dataSync()));
}

let teacher: Teacher;
const train = toyImages(64, 4, 1);
const heldOut = toyImages(48, 4, 2);
const pool = asBatches(train.images01, train.labels, 16);

beforeAll(async () => {
  const model = tinyNet({ seed: 11, name: 'teacher' });
  await trainFromScratch({ model, images: pool, normalization, epochs: 8, batchSize: 16, learningRate: 0.1 });
  model.trainable = false;
  teacher = asTeacher(model);
});

test('the trained teacher classifies the toy problem', async () => {
  expect(await accuracy01(teacher, heldOut.images01, heldOut.labels, normalization)).toBeGreaterThan(0.9);
});

test('distill raises the student agreement with the teacher and lowers the KD loss; the teacher is untouched', async () => {
  const student = tinyNet({ seed: 3, widths: [4, 6], name: 'student' });
  const teacherLabels = await predictions01(teacher, heldOut.images01, normalization);
  const testSet = { images01: heldOut.images01, labels: teacherLabels };
  const before = await accuracy01(student, heldOut.images01, teacherLabels, normalization);
  const teacherWeights = weightsOf(teacher.model);
  const movingBefore = Float32Array.from(student.getLayer('bn1').getWeights()[2].dataSync());
  const reports: number[] = [];
  const result = await distill({
    teacher,
    student,
    images: pool,
    epochs: 6,
    batchSize: 16,
    testSet,
    onEpoch: (r) => void reports.push(r.loss),
  });
  expect(result.history).toHaveLength(6);
  expect(result.steps).toBe(24);
  expect(result.aborted).toBe(false);
  expect(reports[5]).toBeLessThan(reports[0] * 0.6);
  // Agreement on held-out images: ~chance before (0.25 here), 0.75 after 24 steps.
  expect(result.testAccuracy).toBeGreaterThanOrEqual(Math.max(before + 0.3, 0.7));
  expect(result.history[5].terms.kd).toBeCloseTo(result.history[5].loss, 6);
  // The teacher (weights and BatchNorm statistics) never changes; the student's moving statistics do.
  weightsOf(teacher.model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(teacherWeights[i])));
  expect(Array.from(student.getLayer('bn1').getWeights()[2].dataSync())).not.toEqual(Array.from(movingBefore));
});

test('distill is deterministic under a seed and leaks no tensors', async () => {
  const run = async (seed: number) => {
    const student = tinyNet({ seed: 5, widths: [4, 6] });
    await distill({
      teacher,
      student,
      images: { images01: train.images01, count: 64, shape: [64, 8, 8, 3] },
      epochs: 2,
      batchSize: 32,
      seed,
    });
    const w = weightsOf(student);
    student.dispose();
    return w;
  };
  const before = tf.memory().numTensors;
  const a = await run(7);
  expect(tf.memory().numTensors).toBe(before);
  const b = await run(7);
  const c = await run(8);
  a.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(b[i])));
  expect(a.some((w, i) => w.some((v, j) => v !== c[i][j]))).toBe(true);
});

test('distill stops on abort and reports it', async () => {
  const student = tinyNet({ seed: 5, widths: [4, 6] });
  const controller = new AbortController();
  const result = await distill({
    teacher,
    student,
    images: pool,
    epochs: 5,
    batchSize: 32,
    signal: controller.signal,
    onStep: (r) => {
      if (r.step === 3) controller.abort();
    },
  });
  expect(result.aborted).toBe(true);
  expect(result.steps).toBe(3);
  expect(result.history).toHaveLength(1);
});

test('distill checkpoints to a callback and to safetensors files that load back', async () => {
  const student = tinyNet({ seed: 5, widths: [4, 6] });
  const epochs: number[] = [];
  await distill({ teacher, student, images: pool, steps: 3, batchSize: 32, checkpoint: ({ epoch }) => void epochs.push(epoch) });
  expect(epochs).toEqual([1, 2]);

  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-distill-'));
  try {
    await distill({ teacher, student, images: pool, epochs: 2, batchSize: 32, checkpoint: checkpointFolder(folder), checkpointEvery: 2 });
    expect(fs.readdirSync(folder).sort()).toEqual(['epoch-0002.safetensors', 'resume-0002.safetensors', 'resume.json']);
    const copy = tinyNet({ seed: 99, widths: [4, 6] });
    loadPytorchWeights(copy, (await readSafetensorsFile(path.join(folder, 'epoch-0002.safetensors'))).tensors);
    weightsOf(copy).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(weightsOf(student)[i])));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});

test('distill resumed from a checkpoint snapshot ends with the same student as an uninterrupted run, bit for bit', async () => {
  const options = { teacher, images: pool, epochs: 3, batchSize: 16, momentum: 0.9, weightDecay: 5e-4, seed: 3 };
  const whole = tinyNet({ seed: 5, widths: [4, 6] });
  const wholeResult = await distill({ ...options, student: whole });

  // The first run stops right after epoch 1's checkpoint (its snapshot is copied: the loop disposes its own).
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-distill-resume-'));
  const before = tf.memory().numTensors;
  try {
    const first = tinyNet({ seed: 5, widths: [4, 6] });
    const controller = new AbortController();
    const write = checkpointFolder(folder, { configuration: { run: 'a' } });
    await distill({
      ...options,
      student: first,
      signal: controller.signal,
      checkpoint: async (info) => {
        await write(info);
        controller.abort();
      },
    });
    first.dispose();
    const loaded = await loadTrainingCheckpoint(folder);
    expect(loaded?.configuration).toEqual({ run: 'a' });
    const snapshot = loaded?.snapshot as TrainingSnapshot;
    expect(snapshot.json).toMatchObject({ what: 'distill', epochsDone: 1, step: 4, totalSteps: 12 });

    // A fresh student of other initial weights: the snapshot carries everything.
    const resumed = tinyNet({ seed: 77, widths: [4, 6] });
    const epochs: number[] = [];
    const result = await distill({ ...options, student: resumed, resume: snapshot, onEpoch: (r) => void epochs.push(r.epoch) });
    expect(epochs).toEqual([2, 3]);
    expect(result.steps).toBe(12);
    expect(result.history.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(result.history.map((r) => r.loss)).toEqual(wholeResult.history.map((r) => r.loss));
    weightsOf(resumed).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(weightsOf(whole)[i])));

    // A snapshot continues only the run it came from.
    await expect(distill({ ...options, epochs: 4, student: resumed, resume: snapshot })).rejects.toThrow(
      'distill: the snapshot was planned for 12 steps, not 16; resume with the same epochs, batch size and images.',
    );
    const wider = tinyNet({ seed: 5, widths: [4, 8] });
    await expect(distill({ ...options, student: wider, resume: snapshot })).rejects.toThrow(
      /^distill: snapshot weight \d+ is \[3,3,4,6\] but the model's '.*' is \[3,3,4,8\]; resume with the same model\.$/,
    );
    wider.dispose();
    resumed.dispose();
    tf.dispose(Object.values(snapshot.tensors));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
  expect(tf.memory().numTensors).toBe(before);
  whole.dispose();
});

test("studentTrainer gives ADI's trainStudent: one short distillation per round on the growing pool", async () => {
  const student = tinyNet({ seed: 5, widths: [4, 6] });
  const rounds: Array<[number, number]> = [];
  const trainStudent = studentTrainer({
    teacher,
    student,
    batchSize: 8,
    onRound: (round, result) => void rounds.push([round, result.steps]),
  });
  await trainStudent(pool.slice(0, 1));
  await trainStudent(pool.slice(0, 2));
  expect(rounds).toEqual([
    [0, 2],
    [1, 4],
  ]);
});

test('studentTrainer plugs into adaptiveDeepInversion: the student learns from every finished batch', async () => {
  const student = tinyNet({ seed: 5, widths: [4, 6] });
  const before = weightsOf(student);
  const rounds: number[] = [];
  const trainStudent = studentTrainer({ teacher, student, batchSize: 4, onRound: (_, result) => void rounds.push(result.steps) });
  const batches: unknown[] = [];
  for await (const batch of adaptiveDeepInversion(teacher, { batches: 2, batchSize: 4, steps: 2, competition: { student, trainStudent } }))
    batches.push(batch);
  expect(batches).toHaveLength(2);
  expect(rounds).toEqual([1, 2]);
  expect(weightsOf(student).some((w, i) => w.some((v, j) => v !== before[i][j]))).toBe(true);
});

test('distill explains wrong inputs', async () => {
  const student = tinyNet({ seed: 5 });
  await expect(distill({ teacher: teacher.model as unknown as Teacher, student, images: pool })).rejects.toThrow(/natinv Teacher/);
  await expect(distill({ teacher, student: teacher.model, images: pool })).rejects.toThrow(/same model/);
  await expect(distill({ teacher, student: tinyNet({ seed: 1, numClasses: 3 }), images: pool })).rejects.toThrow(
    /3 outputs but the teacher 4/,
  );
  await expect(distill({ teacher, student, images: [] })).rejects.toThrow(/holds no images/);
  await expect(distill({ teacher, student, images: { images01: new Float32Array(10), count: 1, shape: [1, 8, 8, 3] } })).rejects.toThrow(
    /needs 192 values/,
  );
  await expect(distill({ teacher, student, images: { images01: new Float32Array(768), count: 1, shape: [1, 16, 16, 3] } })).rejects.toThrow(
    /16x16x3 images but the model takes 8x8x3/,
  );
  await expect(distill({ teacher, student, images: pool, temperature: 0 })).rejects.toThrow(/temperature must be a finite number > 0/);
  await expect(distill({ teacher, student, images: pool, epochs: 1.5 })).rejects.toThrow(/epochs must be a positive integer/);
  await expect(
    distill({ teacher, student, images: pool, epochs: 1, testSet: { images01: heldOut.images01, labels: [1, 2] } }),
  ).rejects.toThrow(/2 labels for 48 images/);
  const broken = Float32Array.from(train.images01).fill(NaN, 0, 192);
  await expect(
    distill({ teacher, student, images: { images01: broken, count: 64, shape: [64, 8, 8, 3] }, steps: 1, augmentation: false }),
  ).rejects.toThrow(/distill diverged at step 1: the loss is no longer finite \(loss NaN, kd NaN\)/);
});
