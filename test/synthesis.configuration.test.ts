/**
 * Runs as plain data: a configuration is checked with errors that name the field, drives the
 * methods exactly as their options do, and a folder written through the library alone records it
 * and reproduces itself batch for batch.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AdaptiveDeepInversionConfiguration,
  adiStudent,
  checkSynthesisConfiguration,
  deepInversion,
  listBatchFiles,
  readBatch,
  readDataset,
  readRunRecord,
  reproduceRun,
  synthesizeConfiguredRun,
  synthesizeFromConfiguration,
  SynthesisConfiguration,
  SynthesizedBatch,
  Teacher,
  weightsFingerprint,
  writeManifest,
} from '../src/node';
import * as tf from '@tensorflow/tfjs-core';
import { tinyTeacher } from './helpers/tiny-teacher';

async function collect(batches: AsyncIterable<SynthesizedBatch>): Promise<SynthesizedBatch[]> {
  const out: SynthesizedBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

let teacher: Teacher;
let tmp: string;
beforeAll(() => {
  teacher = tinyTeacher();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-configuration-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const di: SynthesisConfiguration = {
  method: 'deepInversion',
  batchSize: 4,
  steps: 3,
  seed: 7,
  learningRate: 0.1,
  weights: { bn: 1 },
  clipPixels: true,
};
const ni: SynthesisConfiguration = {
  method: 'naturalInversion',
  batchSize: 4,
  steps: 2,
  seed: 3,
  generator: { latentSize: 16, baseWidth: 8 },
};
const fast: SynthesisConfiguration = {
  method: 'fastInversion',
  batchSize: 4,
  steps: 2,
  seed: 5,
  generator: { latentSize: 16, baseWidth: 8 },
  metaOptimizer: 'sgd',
};
const adi: SynthesisConfiguration = {
  method: 'adaptiveDeepInversion',
  batchSize: 2,
  steps: 2,
  seed: 1,
  competition: { weight: 0.5 },
  student: { arch: 'resnet20' },
};

describe('checkSynthesisConfiguration', () => {
  it.each<[string, unknown, string]>([
    ['not an object', 'di', 'configuration must be a JSON object, got "di".'],
    [
      'an unknown method',
      { ...di, method: 'magic' },
      `configuration.method must be one of 'deepInversion', 'adaptiveDeepInversion', 'naturalInversion', 'fastInversion', got "magic".`,
    ],
    [
      'a field of the other method',
      { ...di, featureTaps: ['a'] },
      'configuration.featureTaps is not a setting of deepInversion; its settings are method, batchSize, steps, seed, weights, setting, ' +
        'learningRate, firstBnMultiplier, clipPixels.',
    ],
    ['a fractional batch size', { ...di, batchSize: 2.5 }, 'configuration.batchSize must be a positive integer, got 2.5.'],
    ['a missing seed', { ...di, seed: undefined }, 'configuration.seed must be an integer of at least 0, got undefined.'],
    ['a misspelt weight', { ...di, weights: { bnn: 1 } }, 'configuration.weights.bnn is not a setting; the settings are ce, bn, tv, l2.'],
    ['a negative weight', { ...di, weights: { tv: -1 } }, 'configuration.weights.tv must be a number of at least 0, got -1.'],
    ['a text flag', { ...di, clipPixels: 'yes' }, 'configuration.clipPixels must be true or false, got "yes".'],
    ['empty taps', { ...ni, featureTaps: [] }, 'configuration.featureTaps must be a non-empty list of layer names, got [].'],
    [
      'a fast meta-optimizer that does not exist',
      { ...fast, metaOptimizer: 'rmsprop' },
      `configuration.metaOptimizer must be 'adam' or 'sgd', got "rmsprop".`,
    ],
    ['a BN momentum of 1', { ...fast, bnMomentum: 1 }, 'configuration.bnMomentum must be a number in [0, 1), got 1.'],
    [
      'an ADI run without its student',
      { ...adi, student: undefined },
      'configuration.student must be { "arch": "<zoo architecture>" } (the network ADI trains between batches, e.g. resnet20), got undefined.',
    ],
    [
      'an ADI student that is not a zoo architecture',
      { ...adi, student: { arch: 'resnet9000' } },
      'configuration.student.arch must be one of resnet20, ',
    ],
    [
      'a DeepInversion field on the fast method',
      { ...fast, clipPixels: true },
      'configuration.clipPixels is not a setting of fastInversion; its settings are method, batchSize, steps, seed, weights, learningRates, ',
    ],
    [
      'a zero-width generator',
      { ...ni, generator: { baseWidth: 0 } },
      'configuration.generator.baseWidth must be a positive integer, got 0.',
    ],
  ])('refuses %s, naming the field', (_case, value, message) => {
    expect(() => checkSynthesisConfiguration(value)).toThrow(message);
  });

  it('accepts the configurations above, unchanged, after a JSON round trip', () => {
    for (const configuration of [di, ni, fast, adi]) {
      expect(checkSynthesisConfiguration(JSON.parse(JSON.stringify(configuration)))).toEqual(configuration);
    }
  });
});

it('makes the batches the method makes with the same options', async () => {
  const { method: _method, ...options } = di as Extract<SynthesisConfiguration, { method: 'deepInversion' }>;
  const [fromOptions] = await collect(deepInversion(teacher, options));
  const [fromConfiguration] = await collect(synthesizeFromConfiguration(teacher, di));
  expect(Buffer.from(fromConfiguration.images.buffer).equals(Buffer.from(fromOptions.images.buffer))).toBe(true);
  // The batch says what made it; the method's own batches do not know.
  expect(fromConfiguration.run).toEqual({
    synthesis: di,
    teacher: { name: teacher.name, weightsSha256: await weightsFingerprint(teacher) },
    backend: tf.getBackend(),
    natinv: expect.stringMatching(/^\d+\.\d+\.\d+/),
  });
  expect(fromOptions.run).toBeUndefined();
});

it('refuses run hooks that do not fit the method', () => {
  expect(() => synthesizeFromConfiguration(teacher, adi)).toThrow(
    'synthesizeFromConfiguration: adaptiveDeepInversion needs its student: pass run.competition',
  );
  const student = adiStudent(teacher, adi as AdaptiveDeepInversionConfiguration);
  expect(() => synthesizeFromConfiguration(teacher, di, { competition: student })).toThrow(
    'synthesizeFromConfiguration: competition applies to adaptiveDeepInversion, not deepInversion.',
  );
  student.student.dispose();
});

it.each([
  ['DeepInversion', di],
  ['NaturalInversion', ni],
  ['fast inversion', fast],
])('a %s folder written through the library records its run and reproduces itself batch for batch', async (_name, configuration) => {
  const original = path.join(tmp, `${configuration.method}-original`);
  const again = path.join(tmp, `${configuration.method}-again`);
  await synthesizeConfiguredRun({ folder: original, teacher, configuration, batches: 2, png: false });
  const record = await readRunRecord(original);
  expect(record).toMatchObject({ synthesis: configuration, teacher: { name: teacher.name }, batches: 2, natinv: expect.any(String) });
  expect(record.teacher.weightsSha256).toMatch(/^[0-9a-f]{16}$/);

  await reproduceRun({ from: original, to: again, teacher, png: false });
  expect((await listBatchFiles(again)).indices).toEqual([0, 1]);
  const { batches } = await readDataset(again);
  for (const batch of batches) expect(batch.run).toEqual(expect.objectContaining({ synthesis: configuration, teacher: record.teacher }));
  for (const index of [0, 1]) {
    const name = `batch-00000${index}.safetensors`;
    const [a, b] = await Promise.all([readBatch(path.join(original, 'batches', name)), readBatch(path.join(again, 'batches', name))]);
    expect(Buffer.from(b.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
    expect(Array.from(b.targets)).toEqual(Array.from(a.targets));
  }
});

it('an Adaptive DeepInversion folder reproduces itself with a fresh student built from its record, and refuses to resume', async () => {
  const original = path.join(tmp, 'adi-original');
  const again = path.join(tmp, 'adi-again');
  const configuration = adi as AdaptiveDeepInversionConfiguration;
  const first = adiStudent(teacher, configuration);
  await synthesizeConfiguredRun({ folder: original, teacher, configuration, batches: 2, png: false, competition: first });
  expect(first.rounds()).toBe(2);
  const record = await readRunRecord(original);
  expect(record.synthesis).toEqual(adi);
  const second = adiStudent(teacher, record.synthesis as AdaptiveDeepInversionConfiguration);
  await reproduceRun({ from: original, to: again, teacher, png: false, competition: second });
  for (const index of [0, 1]) {
    const name = `batch-00000${index}.safetensors`;
    const [a, b] = await Promise.all([readBatch(path.join(original, 'batches', name)), readBatch(path.join(again, 'batches', name))]);
    expect(Buffer.from(b.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
  }
  // The students learned the same: same weights after the same rounds.
  const [wa, wb] = [first.student.getWeights(), second.student.getWeights()];
  wa.forEach((w, i) => expect(Buffer.from(wb[i].dataSync().buffer).equals(Buffer.from(w.dataSync().buffer))).toBe(true));

  // A third batch would need the student as batches 0 and 1 left it, in this process: refused.
  const third = adiStudent(teacher, configuration);
  await expect(
    synthesizeConfiguredRun({ folder: original, teacher, configuration, batches: 3, png: false, competition: third }),
  ).rejects.toThrow(/already holds batches 0, 1 of this adaptiveDeepInversion run, which cannot resume/);
  await expect(
    synthesizeConfiguredRun({
      folder: path.join(tmp, 'adi-shard'),
      teacher,
      configuration,
      batches: 2,
      shard: { index: 0, count: 2 },
      competition: third,
    }),
  ).rejects.toThrow(/an adaptiveDeepInversion run cannot be sharded \(shard 0\/2\)/);
  [first, second, third].forEach((s) => s.student.dispose());
}, 120_000);

it('refuses to reproduce a run from other weights, naming both fingerprints', async () => {
  const folder = path.join(tmp, 'fingerprint');
  await synthesizeConfiguredRun({ folder, teacher, configuration: { ...di, steps: 1 }, batches: 1, png: false });
  const other = tinyTeacher({ seed: 99 });
  await expect(reproduceRun({ from: folder, to: path.join(tmp, 'fingerprint-again'), teacher: other, png: false })).rejects.toThrow(
    /was made from teacher \S+ with weights [0-9a-f]{16}; the teacher given has weights [0-9a-f]{16}\. Load the same weights/,
  );
});

it('says why a folder without a record cannot be reproduced', async () => {
  const folder = path.join(tmp, 'no-record');
  fs.mkdirSync(folder);
  const now = new Date().toISOString();
  await writeManifest(folder, {
    format: 'natinv-dataset',
    version: 2,
    configuration: { method: 'fast' },
    batches: 1,
    batchSize: 4,
    imageShape: null,
    created: now,
    updated: now,
    finished: [],
  });
  await expect(readRunRecord(folder)).rejects.toThrow(
    `${folder} was not written from a synthesis configuration (its manifest has no 'synthesis' and 'teacher'), so it cannot be ` +
      'reproduced from its record. synthesizeConfiguredRun and natinv synthesize write one.',
  );
});
