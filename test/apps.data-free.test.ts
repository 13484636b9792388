/**
 * dataFreeDistill on a tiny teacher and student (8x8 images, a few synthesis steps per round):
 * determinism, resumption from a snapshot, the pool bound, abort and bad input.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { dataFreeDistill, DataFreeDistillOptions, DataFreeDistillSnapshot, RoundReport } from '../src/apps/data-free-distill';
import { deepInversionSynthesizer } from '../src/synthesis/per-batch-synthesizers';
import type { BatchSynthesizer } from '../src/synthesis/synthesizer';
import type { Teacher } from '../src/models/teacher';
import { tinyNet, toyImages } from './apps.fixtures';
import { tinyTeacher } from './helpers/tiny-teacher';

let teacher: Teacher;
beforeAll(() => {
  teacher = tinyTeacher();
});
const heldOut = toyImages(32, 4, 3);

function options(student: tfl.LayersModel, extra: Partial<DataFreeDistillOptions> = {}): DataFreeDistillOptions {
  return {
    teacher,
    student,
    synthesizer: deepInversionSynthesizer(teacher, { batchSize: 8, steps: 2, seed: 5, competition: true }),
    rounds: 4,
    kdSteps: 2,
    batchSize: 8,
    seed: 7,
    testSet: { images01: heldOut.images01, labels: heldOut.labels },
    evaluateEvery: 2,
    ...extra,
  };
}

function weightsOf(model: tfl.LayersModel): Float32Array[] {
  return model.weights.map((w) => Float32Array.from(w.read().dataSync()));
}

/** Deep copy of a snapshot whose tensors the loop disposes after the callback. */
function keep(snapshot: DataFreeDistillSnapshot): DataFreeDistillSnapshot {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(snapshot.tensors)) tensors[name] = tf.clone(t);
  return { json: JSON.parse(JSON.stringify(snapshot.json)), tensors, pool: snapshot.pool };
}

test('rounds synthesize, grow the pool, distill and evaluate; two runs give the same student; no tensors leak', async () => {
  const reports: RoundReport[] = [];
  const first = tinyNet({ seed: 3 });
  const before = weightsOf(first);
  const tensorsBefore = tf.memory().numTensors;
  const result = await dataFreeDistill(options(first, { onRound: (r) => void reports.push(r) }));
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(result.rounds).toBe(4);
  expect(result.kdSteps).toBe(8);
  expect(result.imagesSynthesized).toBe(32);
  expect(result.pool.map((b) => b.index)).toEqual([0, 1, 2, 3]);
  expect(reports.map((r) => r.poolSize)).toEqual([8, 16, 24, 32]);
  expect(result.evaluations.map((e) => e.round)).toEqual([2, 4]);
  expect(reports[3].learningRate).toBeLessThan(reports[0].learningRate);
  reports.forEach((r) => expect(Number.isFinite(r.kdLoss)).toBe(true));
  expect(weightsOf(first).some((w, i) => w.some((v, k) => v !== before[i][k]))).toBe(true);

  const second = tinyNet({ seed: 3 });
  await dataFreeDistill(options(second));
  expect(weightsOf(second)).toEqual(weightsOf(first));
  first.dispose();
  second.dispose();
});

test('a run resumed from a mid-run snapshot ends with the same student, bit for bit', async () => {
  const whole = tinyNet({ seed: 3 });
  const snapshots: DataFreeDistillSnapshot[] = [];
  await dataFreeDistill(options(whole, { checkpointEveryMs: 0, checkpoint: (s) => void snapshots.push(keep(s)) }));
  const mid = snapshots.find((s) => s.json.round === 2) as DataFreeDistillSnapshot;
  expect(mid).toBeDefined();

  const resumed = tinyNet({ seed: 99 }); // other weights: everything must come from the snapshot
  const result = await dataFreeDistill(options(resumed, { resume: mid }));
  expect(result.rounds).toBe(4);
  expect(weightsOf(resumed)).toEqual(weightsOf(whole));
  snapshots.forEach((s) => tf.dispose(Object.values(s.tensors)));
  whole.dispose();
  resumed.dispose();
});

test('the pool bound drops the oldest batches and keeps host and tensor memory flat', async () => {
  const student = tinyNet({ seed: 3 });
  const sizes: number[] = [];
  const tensors: number[] = [];
  const result = await dataFreeDistill(
    options(student, {
      rounds: 6,
      poolLimit: 16,
      testSet: undefined,
      onRound: (r) => {
        sizes.push(r.poolSize);
        tensors.push(tf.memory().numTensors);
      },
    }),
  );
  expect(sizes).toEqual([8, 16, 16, 16, 16, 16]);
  expect(result.pool.map((b) => b.index)).toEqual([4, 5]);
  expect(new Set(tensors.slice(1)).size).toBe(1);
  student.dispose();
});

test('an abort stops the run, hands over a snapshot, and the student keeps what it learned', async () => {
  const student = tinyNet({ seed: 3 });
  const controller = new AbortController();
  const saved: DataFreeDistillSnapshot[] = [];
  const result = await dataFreeDistill(
    options(student, {
      checkpointEveryMs: 1e9,
      checkpoint: (s) => void saved.push(keep(s)),
      onRound: (r) => {
        if (r.round === 2) controller.abort();
      },
      signal: controller.signal,
    }),
  );
  expect(result.aborted).toBe(true);
  expect(result.rounds).toBe(2);
  expect(saved.map((s) => s.json.round)).toEqual([2]);
  saved.forEach((s) => tf.dispose(Object.values(s.tensors)));
  student.dispose();
});

test('bad input gets a clear error', async () => {
  const student = tinyNet({ seed: 3 });
  await expect(dataFreeDistill(options(tinyNet({ seed: 1, numClasses: 5 })))).rejects.toThrow(
    /student has 5 outputs but the teacher 4; give the student the teacher's classes/,
  );
  const wide = tfl.sequential({
    layers: [tfl.layers.flatten({ inputShape: [16, 16, 3] }), tfl.layers.dense({ units: 4 })],
  });
  await expect(dataFreeDistill(options(wide))).rejects.toThrow(/student takes 16x16x3 images but the teacher 8x8x3/);
  await expect(dataFreeDistill(options(student, { rounds: undefined, budgetMs: 0 }))).rejects.toThrow(
    /budgetMs .* must be a finite number > 0, got 0/,
  );
  await expect(dataFreeDistill(options(student, { rounds: 0 }))).rejects.toThrow(/rounds must be a positive integer, got 0/);
  await expect(dataFreeDistill(options(student, { budgetMs: 1000 }))).rejects.toThrow(/exactly one of rounds .* or budgetMs/);
  const plain = tfl.sequential({
    layers: [tfl.layers.flatten({ inputShape: [8, 8, 3] }), tfl.layers.dense({ units: 4 })],
  });
  const noBatchNorm: Teacher = { ...teacher, name: 'plain', model: plain };
  expect(() => deepInversionSynthesizer(noBatchNorm)).toThrow(/teacher 'plain' has no BatchNormalization layer.*R_BN/);
  wide.dispose();
  plain.dispose();
  student.dispose();
});

test('a time budget fixes the round count from the first rounds and keeps it in the snapshot', async () => {
  // A fake clock: every reading advances 100 ms, so a round costs 200 ms (synthesis 100, KD 100): 1000 / 200 = 5 rounds.
  let now = 0;
  const clock = (): number => (now += 100);
  const student = tinyNet({ seed: 3 });
  const planned: Array<number | undefined> = [];
  const snapshots: DataFreeDistillSnapshot[] = [];
  const result = await dataFreeDistill(
    options(student, {
      rounds: undefined,
      budgetMs: 1000,
      clock,
      planAfterRounds: 2,
      testSet: undefined,
      checkpointEveryMs: 0,
      checkpoint: (snap) => void snapshots.push({ json: JSON.parse(JSON.stringify(snap.json)), tensors: {}, pool: [] }),
      onRound: (r) => void planned.push(r.rounds),
    }),
  );
  expect(planned).toEqual([undefined, 5, 5, 5, 5]);
  expect(result.rounds).toBe(5);
  expect(snapshots.map((snap) => snap.json.plannedRounds)).toEqual([null, 5, 5, 5, 5]);
  student.dispose();
});

test("a time budget is planned from the synthesizer's steady rounds, so costlier later rounds still end in time", async () => {
  // Every clock reading advances 100 ms; from batch 2 on (an adversarial term, say) synthesis costs
  // 200 ms more: rounds 0-1 cost 200 ms, later ones 400. Planned at round 4 from rounds 2-3: the
  // 800 ms left afford 2 more rounds, 6 in all, ending at the 2,000 ms budget. (Planned from
  // rounds 0-1, as before, it would have been 10 rounds and 3,600 ms.)
  let now = 0;
  const clock = (): number => (now += 100);
  const base = deepInversionSynthesizer(teacher, { batchSize: 8, steps: 2, seed: 5 });
  const synthesizer: BatchSynthesizer = {
    method: base.method,
    steadyFromBatch: 2,
    synthesizeBatch: async (index, call) => {
      if (index >= 2) now += 200;
      return base.synthesizeBatch(index, call);
    },
    saveState: () => base.saveState(),
    restoreState: (state) => base.restoreState(state),
    dispose: () => base.dispose(),
  };
  const student = tinyNet({ seed: 3 });
  const planned: Array<number | undefined> = [];
  const result = await dataFreeDistill(
    options(student, {
      synthesizer,
      rounds: undefined,
      budgetMs: 2000,
      clock,
      planAfterRounds: 2,
      testSet: undefined,
      onRound: (r) => void planned.push(r.rounds),
    }),
  );
  expect(planned).toEqual([undefined, undefined, undefined, 6, 6, 6]);
  expect(result.rounds).toBe(6);
  expect(result.elapsedMs).toBe(2000);
  student.dispose();
});
