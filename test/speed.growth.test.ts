import * as tf from '@tensorflow/tfjs-core';
import { buildZooModel, deepInversion, naturalInversion, StepReport, Teacher, ZOO } from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

// A synthesis step must not leave tensors behind: every step ends with exactly as many live
// tensors as the one before (the kept best image is swapped, never added), and a finished batch
// leaves nothing. Runs on the backend NATINV_BACKEND selects, with the method presets.

/** ResNet-20 with random weights: the zoo's option-A shortcuts, padding layers and residual adds. */
function resnet20(): Teacher {
  return {
    name: 'resnet20-random',
    model: buildZooModel('resnet20', { seed: 0 }),
    normalization: ZOO.resnet20.normalization,
    numClasses: 10,
    inputShape: [32, 32, 3],
    featureTaps: ZOO.resnet20.featureTaps,
  };
}

/** Live tensors after each step of one preset run, and before and after the whole run. */
async function tensorCounts(run: (onStep: (report: StepReport) => void) => AsyncGenerator<unknown>) {
  const before = tf.memory().numTensors;
  const perStep: number[] = [];
  for await (const batch of run(() => perStep.push(tf.memory().numTensors))) void batch;
  return { before, perStep, after: tf.memory().numTensors };
}

function expectNoGrowth(counts: { before: number; perStep: number[]; after: number }, steps: number): void {
  expect(counts.perStep).toHaveLength(steps);
  expect(counts.perStep).toEqual(counts.perStep.map(() => counts.perStep[0]));
  expect(counts.after).toBe(counts.before);
}

describe.each([
  ['a small BatchNorm teacher', tinyTeacher, 4, 6],
  ['ResNet-20', resnet20, 2, 3],
])('zero tensor growth per synthesis step, %s', (_, makeTeacher, batchSize, steps) => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = makeTeacher();
  });
  afterAll(() => teacher.model.dispose());

  test('DeepInversion', async () => {
    const counts = await tensorCounts((onStep) => deepInversion(teacher, { batchSize, steps, seed: 1, onStep }));
    expectNoGrowth(counts, steps);
  }, 300_000);

  test('NaturalInversion', async () => {
    const generator = { latentSize: 16, baseWidth: 8 };
    const counts = await tensorCounts((onStep) => naturalInversion(teacher, { batchSize, steps, seed: 1, generator, onStep }));
    expectNoGrowth(counts, steps);
  }, 300_000);
});
