import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  bnStatistics,
  fastInversion,
  FastInversionOptions,
  fastSynthesizer,
  maskedDisagreementLoss,
  SynthesizedBatch,
  SynthesizerState,
  tapNetwork,
  Teacher,
} from '../src/node';
import { tinyTeacher } from './helpers/tiny-teacher';

const tiny: FastInversionOptions = { batchSize: 4, innerSteps: 2, generator: { latentSize: 6, baseWidth: 4 } };

async function collect(batches: AsyncIterable<SynthesizedBatch>): Promise<SynthesizedBatch[]> {
  const out: SynthesizedBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

function sharedWeights(synthesizer: { generator: { parameters: Readonly<Record<string, tf.Variable>> } }): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(synthesizer.generator.parameters).map(([name, v]) => [name, v.dataSync() as Float32Array]));
}

function disposeState(state: SynthesizerState): void {
  tf.dispose(Object.values(state.tensors));
}

describe('fastInversion', () => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher();
  });

  test('yields finished batches made in a few inner steps, with the paper-style terms', async () => {
    const batches = await collect(fastInversion(teacher, { ...tiny, batches: 3, seed: 2 }));
    expect(batches.map((b) => b.index)).toEqual([0, 1, 2]);
    for (const batch of batches) {
      expect(batch.method).toBe('fastInversion');
      expect(batch.shape).toEqual([4, 8, 8, 3]);
      expect(batch.steps).toBe(2);
      expect(Object.keys(batch.terms)).toEqual(['ce', 'bn']);
      expect(batch.images.every(Number.isFinite)).toBe(true);
    }
    // The shared generator moves: batch 1 is not made from the same weights as batch 0 would be alone.
    const [alone] = await collect(fastInversion(teacher, { ...tiny, batchIndices: [1], seed: 2 }));
    expect(Array.from(alone.images)).not.toEqual(Array.from(batches[1].images));
  });

  test('sgd meta-update moves the shared weights toward the adapted copy by the configured rate', async () => {
    // With rate 1 the shared weights become the adapted copy; the adaptation of batch 0 does not
    // depend on the meta rate, so rate r must land at before + r (adapted - before).
    const options = { ...tiny, bnMomentum: 0, metaOptimizer: 'sgd' as const, seed: 3 };
    const full = fastSynthesizer(teacher, { ...options, metaLearningRate: 1 });
    const partial = fastSynthesizer(teacher, { ...options, metaLearningRate: 0.25 });
    const before = sharedWeights(partial);
    expect(sharedWeights(full)).toEqual(before);
    await full.synthesizeBatch(0);
    await partial.synthesizeBatch(0);
    const adapted = sharedWeights(full);
    const after = sharedWeights(partial);
    let moved = 0;
    for (const name of Object.keys(before)) {
      before[name].forEach((b, i) => {
        expect(after[name][i]).toBeCloseTo(b + 0.25 * (adapted[name][i] - b), 5);
        moved = Math.max(moved, Math.abs(adapted[name][i] - b));
      });
    }
    expect(moved).toBeGreaterThan(1e-4);
    full.dispose();
    partial.dispose();
  });

  test('adam meta-update: the first step is lr x (adapted - shared) / (|adapted - shared| + eps), per weight', async () => {
    const options = { ...tiny, bnMomentum: 0, seed: 4 };
    const reference = fastSynthesizer(teacher, { ...options, metaOptimizer: 'sgd', metaLearningRate: 1 });
    const meta = fastSynthesizer(teacher, options);
    expect(meta.settings.metaLearningRate).toBeCloseTo(5e-3 * 2, 12); // generator lr x inner steps
    const before = sharedWeights(meta);
    await reference.synthesizeBatch(0);
    await meta.synthesizeBatch(0);
    const adapted = sharedWeights(reference);
    const after = sharedWeights(meta);
    for (const name of Object.keys(before)) {
      before[name].forEach((b, i) => {
        // Adam's bias-corrected first step: m = g, v = g^2, update = lr g / (|g| + eps), with g = shared - adapted.
        const g = b - adapted[name][i];
        expect(after[name][i]).toBeCloseTo(b - (0.01 * g) / (Math.abs(g) + 1e-8), 5);
      });
    }
    reference.dispose();
    meta.dispose();
  });

  test('a run resumed from saved state equals an uninterrupted one, batch for batch', async () => {
    const options = { ...tiny, seed: 7 };
    const uninterrupted = await collect(fastInversion(teacher, { ...options, batches: 4 }));
    const first = fastSynthesizer(teacher, options);
    const resumed = [await first.synthesizeBatch(0), await first.synthesizeBatch(1)];
    const state = first.saveState();
    first.dispose();
    // Another synthesizer, as a new process would build, continues from the saved state.
    resumed.push(...(await collect(fastInversion(teacher, { ...options, batchIndices: [2, 3], state }))));
    disposeState(state);
    expect(resumed.map((b) => b?.index)).toEqual([0, 1, 2, 3]);
    resumed.forEach((batch, i) => {
      expect(Array.from(batch?.images ?? [])).toEqual(Array.from(uninterrupted[i].images));
      expect(batch?.loss).toBe(uninterrupted[i].loss);
    });
  });

  test('no tensor growth over several batches; dispose releases everything', async () => {
    const start = tf.memory().numTensors;
    const synthesizer = fastSynthesizer(teacher, { ...tiny, pyramid: true });
    await synthesizer.synthesizeBatch(0);
    const state = synthesizer.saveState();
    synthesizer.restoreState(state);
    disposeState(state);
    const settled = tf.memory().numTensors;
    for (let i = 1; i <= 4; i++) await synthesizer.synthesizeBatch(i);
    expect(tf.memory().numTensors).toBe(settled);
    synthesizer.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  test('fast NI: FTP shared and meta-learned, ACS per batch', async () => {
    const synthesizer = fastSynthesizer(teacher, { ...tiny, pyramid: true });
    expect(synthesizer.settings.featureTaps).toEqual(['stage2', 'stage1']);
    const ftpBefore = Object.values(synthesizer.ftp?.parameters ?? {}).map((v) => Array.from(v.dataSync()));
    const batch = await synthesizer.synthesizeBatch(0);
    expect(batch?.images.every(Number.isFinite)).toBe(true);
    const ftpAfter = Object.values(synthesizer.ftp?.parameters ?? {}).map((v) => Array.from(v.dataSync()));
    expect(ftpAfter).not.toEqual(ftpBefore);
    synthesizer.dispose();
  });

  test('the adversarial term joins once a student is passed and the warm-up is over; the student is not trained', async () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const output = tfl.layers.dense({ units: 4 }).apply(tfl.layers.flatten().apply(input)) as tfl.SymbolicTensor;
    const student = tfl.model({ inputs: input, outputs: output });
    const weightsBefore = student.getWeights().map((w) => Array.from(w.dataSync()));
    const synthesizer = fastSynthesizer(teacher, { ...tiny, adversarial: { warmupBatches: 1 } });
    const warm = await synthesizer.synthesizeBatch(0, { student });
    const after = await synthesizer.synthesizeBatch(1, { student });
    expect(Object.keys(warm?.terms ?? {})).toEqual(['ce', 'bn']);
    expect(Object.keys(after?.terms ?? {})).toEqual(['ce', 'bn', 'adversarial']);
    expect(student.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(weightsBefore);
    synthesizer.dispose();
  });

  test('an aborted batch is dropped and leaves the shared generator untouched', async () => {
    const synthesizer = fastSynthesizer(teacher, tiny);
    const before = sharedWeights(synthesizer);
    const controller = new AbortController();
    const batch = await synthesizer.synthesizeBatch(0, {
      signal: controller.signal,
      onStep: () => controller.abort(),
    });
    expect(batch).toBeUndefined();
    expect(sharedWeights(synthesizer)).toEqual(before);
    synthesizer.dispose();
  });

  test('bad options and foreign state are refused with a clear message', () => {
    expect(() => fastSynthesizer(teacher, { ...tiny, innerSteps: 0 })).toThrow(/innerSteps must be a positive integer/);
    expect(() => fastSynthesizer(teacher, { ...tiny, bnMomentum: 1 })).toThrow(/bnMomentum must be in \[0, 1\)/);
    const synthesizer = fastSynthesizer(teacher, tiny);
    expect(() => synthesizer.restoreState({ tensors: {}, json: { method: 'naturalInversion' } })).toThrow(/not by the fast method/);
    const other = fastSynthesizer(teacher, { ...tiny, generator: { latentSize: 5, baseWidth: 4 } });
    const state = other.saveState();
    expect(() => synthesizer.restoreState(state)).toThrow(/generator\.l1\.weight.*other settings/);
    disposeState(state);
    other.dispose();
    synthesizer.dispose();
  });
});

describe('fast method terms', () => {
  test('maskedDisagreementLoss: minus T^2 KL(teacher || student), averaged over the batch with disagreeing images counted as 0', () => {
    const student = [
      [2, 0, -1],
      [0, 1, 3],
    ];
    const teacher = [
      [1, 0.5, 0],
      [2, 0, 0],
    ];
    const T = 2;
    const softmax = (row: number[]) => {
      const e = row.map((v) => Math.exp(v / T));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    // Image 0 agrees (class 0 both), image 1 does not (2 vs 0).
    const p = softmax(teacher[0]);
    const q = softmax(student[0]);
    const kl = p.reduce((sum, pi, i) => sum + pi * Math.log(pi / q[i]), 0);
    const value = tf.tidy(() => maskedDisagreementLoss(tf.tensor2d(student), tf.tensor2d(teacher), T).dataSync()[0]);
    expect(value).toBeCloseTo((-kl * T * T) / 2, 6);
  });

  test('bnStatistics with history compares m h + (1 - m) s with the moving statistics', () => {
    const teacher = tinyTeacher();
    const images = tf.randomNormal([3, 8, 8, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const network = tapNetwork(teacher.model);
    const m = 0.9;
    const value = tf.tidy(() => {
      const taps = network.forward(images, { batchNorm: true });
      const channels = taps.batchNorm.map((t) => t.input.shape[t.input.rank - 1]);
      const history = {
        momentum: m,
        means: channels.map((c, i) => tf.fill([c], 0.3 * (i + 1)) as tf.Tensor1D),
        variances: channels.map((c, i) => tf.fill([c], 1.5 + i) as tf.Tensor1D),
      };
      const blended = bnStatistics({ history }).evaluate({ images, teacher: taps }).dataSync()[0];
      let expected = 0;
      taps.batchNorm.forEach((tap, i) => {
        const { mean, variance } = tf.moments(tap.input, [0, 1, 2]);
        const norm = (s: tf.Tensor, h: tf.Tensor, moving: tf.Tensor) =>
          tf.norm(tf.sub(tf.add(tf.mul(h, m), tf.mul(s, 1 - m)), moving)).dataSync()[0];
        expected += norm(variance, history.variances[i], tap.movingVariance) + norm(mean, history.means[i], tap.movingMean);
      });
      return { blended, expected };
    });
    expect(value.blended).toBeCloseTo(value.expected, 4);
    images.dispose();
  });
});
