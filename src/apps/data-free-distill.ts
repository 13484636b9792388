/**
 * Data-free knowledge distillation as one loop (ADI, CMI, Fast-Datafree): rounds of {synthesize a
 * batch against the current student, add it to a bounded pool, k KD steps on minibatches sampled
 * from the whole pool with crop + flip}, under a round count or a time budget, resumable from a
 * snapshot to the same student bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputNormalization, Teacher } from '../models/teacher';
import { kdLoss } from '../objectives/losses';
import { sgd, SgdOptimizer } from '../optim';
import { normalize, SynthesizedBatch } from '../synthesis/batch';
import type { BatchSynthesizer, SynthesizeBatchOptions } from '../synthesis/synthesizer';
import { tapNetwork } from '../taps';
import { deriveSeed, Random } from '../util/random';
import {
  assertSeparateModels,
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkPositiveNumber,
  checkStudentFitsTeacher,
  isTeacher,
  modelOfClassifier,
  resolveNormalization,
  trainableVariables,
} from './common';
import { CropFlipOptions, cropFlip, ImagePool, LabelledSet, resolveCropFlip, resolveLabelled, ResolvedLabelled } from './images';
import { cosineRate, HostBatch, runStep, TrainingDivergenceError } from './loop';
import { modelStateTensors, restoreModelState } from './training-state';
import { predictTestSet } from './test-set';

/** Options of {@link dataFreeDistill}. Give exactly one of `rounds` and `budgetMs`. */
export interface DataFreeDistillOptions {
  /** The network distilled from; inference mode, never updated. */
  readonly teacher: Teacher;
  /** The network trained; it must take the teacher's images and give its classes. */
  readonly student: tfl.LayersModel;
  /** Makes one batch per round (deepInversionSynthesizer, naturalInversionSynthesizer, fastSynthesizer, ...). */
  readonly synthesizer: BatchSynthesizer;
  /** Rounds to run. */
  readonly rounds?: number;
  /**
   * Time budget in milliseconds of `clock` (synthesis and KD; evaluation and checkpoints are not
   * counted). The planned round count is fixed from the speed of `planAfterRounds` rounds, counted
   * from the synthesizer's `steadyFromBatch` (the rounds before it may be cheaper), and stored in
   * the snapshot, so the schedule never depends on time after that. Until then the learning rate
   * stays at its base value.
   */
  readonly budgetMs?: number;
  /** Milliseconds for the budget: wall time by default; e.g. this process's CPU time on a shared machine. */
  readonly clock?: () => number;
  /** Rounds measured (from the synthesizer's `steadyFromBatch` on) before the round count is fixed from a time budget. Default 3. */
  readonly planAfterRounds?: number;
  /** KD steps per round. Default 20. */
  readonly kdSteps?: number;
  /** Images per KD minibatch, drawn at random (with replacement) from the whole pool. Default 128. */
  readonly batchSize?: number;
  /** Base SGD learning rate, cosine to 0 over the planned KD steps. Default 0.1. */
  readonly learningRate?: number;
  /** Default 0.9. */
  readonly momentum?: number;
  /** Coupled L2 weight decay. Default 5e-4. */
  readonly weightDecay?: number;
  /** KD temperature T: KL(teacher/T || student/T) x T^2. Default 20. */
  readonly temperature?: number;
  /** Crop (zero padding) + flip of every KD image; false = none. Default { padding: 4, flip: true }. */
  readonly augmentation?: CropFlipOptions | false;
  /** Most images the pool keeps; the oldest batches are dropped beyond it (the newest batch always stays). Default: no bound. */
  readonly poolLimit?: number;
  /** Pass the current student to every synthesizeBatch call (ADI's competition, the fast method's adversarial term). Default true. */
  readonly synthesizeAgainstStudent?: boolean;
  /** Seed of the minibatch draws and augmentation; round r draws from (seed, r) only. Default 0. */
  readonly seed?: number;
  /** Normalization of the student's inputs. Default: the teacher's. */
  readonly studentNormalization?: InputNormalization;
  /** Labelled images scored (top-1, inference mode) every `evaluateEvery` rounds and after the last. */
  readonly testSet?: LabelledSet;
  /** Default 10. */
  readonly evaluateEvery?: number;
  /** Called after every round (awaited). */
  readonly onRound?: (report: RoundReport) => void | Promise<void>;
  /** Called after every synthesis step (awaited); keep it cheap. */
  readonly onSynthesisStep?: SynthesizeBatchOptions['onStep'];
  /** Stops after the current synthesis step (dropping the unfinished batch) or KD step. */
  readonly signal?: AbortSignal;
  /** Receives a snapshot to persist (awaited; its tensors are disposed after): every `checkpointEveryMs`, after the last round and when stopped. */
  readonly checkpoint?: (snapshot: DataFreeDistillSnapshot) => void | Promise<void>;
  /** Wall milliseconds between checkpoints. Default 300000 (5 minutes). */
  readonly checkpointEveryMs?: number;
  /** A snapshot of an earlier run of the same options: continues it exactly. Its tensors stay the caller's. */
  readonly resume?: DataFreeDistillSnapshot;
}

/** One accuracy measurement. */
export interface Evaluation {
  /** Rounds finished when it was taken. */
  readonly round: number;
  /** Budget-clock milliseconds spent by then (synthesis + KD). */
  readonly elapsedMs: number;
  readonly imagesSynthesized: number;
  readonly kdSteps: number;
  /** Top-1 accuracy on the test set. */
  readonly accuracy: number;
}

/** Numbers of one finished round. */
export interface RoundReport {
  /** 1-based round just finished. */
  readonly round: number;
  /** Planned rounds; undefined while a time budget is still being measured. */
  readonly rounds?: number;
  /** Images in the pool now. */
  readonly poolSize: number;
  readonly imagesSynthesized: number;
  /** KD steps taken in the whole run. */
  readonly kdSteps: number;
  /** Mean KD loss of this round's steps. */
  readonly kdLoss: number;
  /** Learning rate of the round's last KD step. */
  readonly learningRate: number;
  /** The synthesized batch's best loss. */
  readonly synthesisLoss: number;
  /** Accuracy measured after this round, when one was due. */
  readonly testAccuracy?: number;
  /** The most recent accuracy measured, at this round or before. */
  readonly lastTestAccuracy?: number;
  /** Budget-clock milliseconds: in all, synthesizing, distilling. */
  readonly elapsedMs: number;
  readonly synthesisMs: number;
  readonly kdMs: number;
  /** Estimated budget-clock milliseconds left (known once the rounds are planned). */
  readonly etaMs?: number;
}

/** The loop's position and counters, as plain JSON (the snapshot's `json`). */
export interface DataFreeDistillProgress {
  readonly format: 'natinv-kd-loop';
  readonly version: 1;
  /** Rounds finished. */
  readonly round: number;
  /** KD steps already taken in the next round (stopped mid-round; its batch is in the pool). */
  readonly stepInRound: number;
  /** Planned rounds; null while a time budget is still being measured. */
  readonly plannedRounds: number | null;
  /** `elapsedMs` when the synthesizer's steady rounds began; null before (absent in older snapshots). */
  readonly steadyElapsedMs?: number | null;
  readonly kdSteps: number;
  readonly imagesSynthesized: number;
  readonly elapsedMs: number;
  readonly synthesisMs: number;
  readonly kdMs: number;
  /** Batch indices in the pool, oldest first. */
  readonly pool: readonly number[];
  readonly evaluations: readonly Evaluation[];
  /** The synthesizer's own JSON state. */
  readonly synthesizer: Readonly<Record<string, unknown>>;
  /** Whether SGD's momentum buffers hold anything yet. */
  readonly momentumStarted: boolean;
}

/**
 * Everything a run needs to continue exactly: the progress, the tensors (`student.N`: the
 * student's weights in model order, moving statistics included; `momentum.N`: SGD's buffers;
 * `synthesizer.NAME`: the synthesizer's state) and the pool's batches.
 */
export interface DataFreeDistillSnapshot {
  readonly json: DataFreeDistillProgress;
  readonly tensors: Readonly<Record<string, tf.Tensor>>;
  readonly pool: readonly SynthesizedBatch[];
}

/** What a run did. */
export interface DataFreeDistillResult {
  /** Rounds finished (in all, resumed ones included). */
  readonly rounds: number;
  readonly plannedRounds: number;
  readonly kdSteps: number;
  readonly imagesSynthesized: number;
  /** The pool at the end, oldest batch first. */
  readonly pool: readonly SynthesizedBatch[];
  readonly evaluations: readonly Evaluation[];
  /** The last accuracy measured. */
  readonly testAccuracy?: number;
  readonly elapsedMs: number;
  readonly synthesisMs: number;
  readonly kdMs: number;
  /** True when `signal` stopped the run; the student keeps what it learned until then. */
  readonly aborted: boolean;
}

const WHAT = 'dataFreeDistill';

interface Settings {
  readonly kdSteps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly temperature: number;
  readonly augmentation: CropFlipOptions;
  readonly poolLimit: number;
  readonly seed: number;
  readonly evaluateEvery: number;
  readonly planAfterRounds: number;
  readonly checkpointEveryMs: number;
}

function checkOptions(options: DataFreeDistillOptions): Settings {
  if (options == null || typeof options !== 'object')
    throw new Error(`${WHAT}: options { teacher, student, synthesizer, rounds | budgetMs } are required.`);
  if (options.teacher == null || !isTeacher(options.teacher)) {
    throw new Error(
      `${WHAT}: options.teacher must be a natinv Teacher (loadTeacher / loadBundledTeacher), which carries its normalization.`,
    );
  }
  const synthesizer = options.synthesizer;
  if (synthesizer == null || typeof synthesizer.synthesizeBatch !== 'function') {
    throw new Error(
      `${WHAT}: options.synthesizer must be a BatchSynthesizer (deepInversionSynthesizer, naturalInversionSynthesizer, fastSynthesizer).`,
    );
  }
  if ((options.rounds == null) === (options.budgetMs == null)) {
    throw new Error(`${WHAT}: give exactly one of rounds (a round count) or budgetMs (a time budget).`);
  }
  if (options.rounds != null) checkPositiveInteger(options.rounds, `${WHAT}: rounds`);
  if (options.budgetMs != null) checkPositiveNumber(options.budgetMs, `${WHAT}: budgetMs (a time budget of 0 leaves no time to train)`);
  const poolLimit = options.poolLimit ?? Infinity;
  if (poolLimit !== Infinity) checkPositiveInteger(poolLimit, `${WHAT}: poolLimit`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new Error(`${WHAT}: seed must be an integer, got ${seed}.`);
  return {
    kdSteps: checkPositiveInteger(options.kdSteps ?? 20, `${WHAT}: kdSteps`),
    batchSize: checkPositiveInteger(options.batchSize ?? 128, `${WHAT}: batchSize`),
    learningRate: checkPositiveNumber(options.learningRate ?? 0.1, `${WHAT}: learningRate`),
    temperature: checkPositiveNumber(options.temperature ?? 20, `${WHAT}: temperature`),
    augmentation: resolveCropFlip(options.augmentation, `${WHAT}: augmentation`),
    poolLimit,
    seed,
    evaluateEvery: checkPositiveInteger(options.evaluateEvery ?? 10, `${WHAT}: evaluateEvery`),
    planAfterRounds: checkPositiveInteger(options.planAfterRounds ?? 3, `${WHAT}: planAfterRounds`),
    checkpointEveryMs: checkNonNegativeNumber(options.checkpointEveryMs ?? 300_000, `${WHAT}: checkpointEveryMs`),
  };
}

/** Drops the oldest batches while the pool is over `limit` images, keeping the newest batch. */
function boundPool(pool: SynthesizedBatch[], limit: number): void {
  let count = pool.reduce((n, b) => n + b.shape[0], 0);
  while (pool.length > 1 && count > limit) count -= (pool.shift() as SynthesizedBatch).shape[0];
}

/** The state of a run, mutable as rounds finish. */
interface RunState {
  round: number;
  /** KD steps done in round `round` (its batch is then in the pool already). */
  stepInRound: number;
  plannedRounds: number | undefined;
  /** `elapsedMs` when round `steadyFromBatch` began (the speed a budget is planned from is measured after it). */
  steadyElapsedMs: number | undefined;
  kdSteps: number;
  imagesSynthesized: number;
  elapsedMs: number;
  synthesisMs: number;
  kdMs: number;
  pool: SynthesizedBatch[];
  evaluations: Evaluation[];
}

function initialState(options: DataFreeDistillOptions): RunState {
  return {
    round: 0,
    stepInRound: 0,
    plannedRounds: options.rounds,
    steadyElapsedMs: undefined,
    kdSteps: 0,
    imagesSynthesized: 0,
    elapsedMs: 0,
    synthesisMs: 0,
    kdMs: 0,
    pool: [],
    evaluations: [],
  };
}

/**
 * The round count a time budget affords, once it can be told (undefined before): from the speed of
 * `planAfterRounds` rounds after the synthesizer's steady point, for the budget left. When even
 * the cheaper rounds before that point would spend the budget first, from their speed (so a short
 * budget still ends in time).
 */
function plannedRounds(
  state: Pick<RunState, 'round' | 'elapsedMs' | 'steadyElapsedMs'>,
  budgetMs: number,
  steadyFrom: number,
  settings: Pick<Settings, 'planAfterRounds'>,
): number | undefined {
  const { round, elapsedMs } = state;
  const afford = (perRoundMs: number): number => round + Math.max(0, Math.floor((budgetMs - elapsedMs) / Math.max(perRoundMs, 1e-9)));
  if (elapsedMs >= budgetMs) return round;
  if (round - steadyFrom >= settings.planAfterRounds) {
    // Snapshots written before steadyElapsedMs existed plan from the mean of all their rounds.
    const [fromRound, fromMs] = state.steadyElapsedMs === undefined ? [0, 0] : [steadyFrom, state.steadyElapsedMs];
    return afford((elapsedMs - fromMs) / (round - fromRound));
  }
  if (round >= settings.planAfterRounds && round < steadyFrom) {
    const perRound = elapsedMs / round;
    if (perRound * (steadyFrom + settings.planAfterRounds) >= budgetMs) return afford(perRound);
  }
  return undefined;
}

/** Loads a snapshot into the student, the optimizer and the synthesizer; returns the run state. */
function restore(
  snapshot: DataFreeDistillSnapshot,
  student: tfl.LayersModel,
  optimizer: SgdOptimizer,
  synthesizer: BatchSynthesizer,
  options: DataFreeDistillOptions,
): RunState {
  const { json, tensors } = snapshot;
  if (json?.format !== 'natinv-kd-loop' || json.version !== 1) {
    throw new Error(`${WHAT}: options.resume is not a snapshot of this loop (format natinv-kd-loop, version 1).`);
  }
  if (options.rounds != null && json.plannedRounds != null && json.plannedRounds !== options.rounds) {
    throw new Error(
      `${WHAT}: the snapshot was planned for ${json.plannedRounds} rounds, not ${options.rounds}; resume with the same options.`,
    );
  }
  const byIndex = new Map(snapshot.pool.map((b) => [b.index, b]));
  const pool = json.pool.map((index) => {
    const batch = byIndex.get(index);
    if (batch == null) throw new Error(`${WHAT}: the snapshot's pool lists batch ${index} but snapshot.pool does not hold it.`);
    return batch;
  });
  restoreModelState(student, optimizer, { tensors, momentumStarted: json.momentumStarted }, 'student', WHAT);
  const synthesizerTensors: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(tensors))
    if (name.startsWith('synthesizer.')) synthesizerTensors[name.slice('synthesizer.'.length)] = t;
  synthesizer.restoreState({ tensors: synthesizerTensors, json: json.synthesizer });
  return {
    round: json.round,
    stepInRound: json.stepInRound,
    plannedRounds: json.plannedRounds ?? options.rounds,
    steadyElapsedMs: json.steadyElapsedMs ?? undefined,
    kdSteps: json.kdSteps,
    imagesSynthesized: json.imagesSynthesized,
    elapsedMs: json.elapsedMs,
    synthesisMs: json.synthesisMs,
    kdMs: json.kdMs,
    pool,
    evaluations: [...json.evaluations],
  };
}

/** A snapshot of the run now (tensors are copies the caller of this function disposes). */
function snapshotOf(
  state: RunState,
  student: tfl.LayersModel,
  optimizer: SgdOptimizer,
  synthesizer: BatchSynthesizer,
): DataFreeDistillSnapshot {
  const { tensors, momentumStarted } = modelStateTensors(student, optimizer, 'student');
  const synthesizerState = synthesizer.saveState();
  for (const [name, t] of Object.entries(synthesizerState.tensors)) tensors[`synthesizer.${name}`] = t;
  return {
    json: {
      format: 'natinv-kd-loop',
      version: 1,
      round: state.round,
      stepInRound: state.stepInRound,
      plannedRounds: state.plannedRounds ?? null,
      steadyElapsedMs: state.steadyElapsedMs ?? null,
      kdSteps: state.kdSteps,
      imagesSynthesized: state.imagesSynthesized,
      elapsedMs: state.elapsedMs,
      synthesisMs: state.synthesisMs,
      kdMs: state.kdMs,
      pool: state.pool.map((b) => b.index),
      evaluations: [...state.evaluations],
      synthesizer: synthesizerState.json,
      momentumStarted,
    },
    tensors,
    pool: [...state.pool],
  };
}

/**
 * Distills `teacher` into `student` without data: each round synthesizes batch `round` with
 * `synthesizer` (against the current student, in inference mode, unless
 * `synthesizeAgainstStudent` is false), adds it to the pool (dropping the oldest batches beyond
 * `poolLimit` images), then takes `kdSteps` SGD steps of KL(teacher/T || student/T) x T^2 on
 * minibatches drawn from the whole pool with crop + flip. Defaults follow the common data-free KD
 * recipe (T 20, SGD 0.1 momentum 0.9, weight decay 5e-4, batch 128, 20 KD steps a round); the
 * learning rate follows a cosine to 0 over the planned rounds (with a time budget, the base rate
 * until the round count is fixed).
 *
 * Deterministic on one backend: round r's minibatches and augmentation draw from (seed, r), the
 * synthesizer's batch r from its own seed and state, so a run resumed from a snapshot ends with
 * the same student, bit for bit, as an uninterrupted one.
 *
 * @example
 * const result = await dataFreeDistill({
 *   teacher, student: buildZooModel('resnet20', { seed: 1 }),
 *   synthesizer: fastSynthesizer(teacher, { batchSize: 128 }), budgetMs: 60 * 60_000,
 *   testSet: { images01: test.images, labels: test.labels },
 *   onRound: (r) => console.log(r.round, r.kdLoss, r.lastTestAccuracy),
 * });
 */
export async function dataFreeDistill(options: DataFreeDistillOptions): Promise<DataFreeDistillResult> {
  const settings = checkOptions(options);
  const { teacher, synthesizer } = options;
  const student = modelOfClassifier(options.student, `${WHAT}: options.student`);
  assertSeparateModels(student, 'student', teacher.model, 'teacher', WHAT);
  const shape = checkStudentFitsTeacher(student, teacher.model, WHAT);
  const normalization = resolveNormalization(WHAT, options.studentNormalization, teacher);
  const sameInputs = normalization === teacher.normalization;
  const testSet: ResolvedLabelled | undefined =
    options.testSet == null ? undefined : resolveLabelled(options.testSet, shape, teacher.numClasses, `${WHAT}: testSet`);
  const clock = options.clock ?? Date.now;
  const variables = trainableVariables(student, WHAT);
  const optimizer = sgd(variables, {
    momentum: checkNonNegativeNumber(options.momentum ?? 0.9, `${WHAT}: momentum`),
    weightDecay: checkNonNegativeNumber(options.weightDecay ?? 5e-4, `${WHAT}: weightDecay`),
  });
  const network = tapNetwork(teacher.model);
  const spec = {
    model: student,
    normalization,
    prepare: (batch: HostBatch, inputs: tf.Tensor4D) =>
      tf.tidy(() => {
        const x = sameInputs ? inputs : normalize(tf.tensor4d(batch.images01, [batch.count, ...shape]), teacher.normalization);
        return network.forward(x).logits as tf.Tensor2D;
      }),
    loss: (logits: tf.Tensor2D, _batch: HostBatch, teacherLogits: tf.Tensor2D) => {
      const kd = kdLoss(logits, teacherLogits, settings.temperature);
      return { total: kd, terms: { kd } };
    },
  };
  try {
    const state = options.resume == null ? initialState(options) : restore(options.resume, student, optimizer, synthesizer, options);
    const steadyFrom = synthesizer.steadyFromBatch ?? 0;
    let lastSave = Date.now();
    const save = async (): Promise<void> => {
      if (options.checkpoint == null) return;
      const snapshot = snapshotOf(state, student, optimizer, synthesizer);
      try {
        await options.checkpoint(snapshot);
      } finally {
        tf.dispose(Object.values(snapshot.tensors));
      }
      lastSave = Date.now();
    };
    const lastAccuracy = (): number | undefined => state.evaluations[state.evaluations.length - 1]?.accuracy;
    const result = (aborted: boolean): DataFreeDistillResult => ({
      rounds: state.round,
      plannedRounds: state.plannedRounds ?? state.round,
      kdSteps: state.kdSteps,
      imagesSynthesized: state.imagesSynthesized,
      pool: [...state.pool],
      evaluations: [...state.evaluations],
      testAccuracy: lastAccuracy(),
      elapsedMs: state.elapsedMs,
      synthesisMs: state.synthesisMs,
      kdMs: state.kdMs,
      aborted,
    });

    while (state.plannedRounds === undefined || state.round < state.plannedRounds) {
      if (options.signal?.aborted) {
        await save();
        return result(true);
      }
      if (state.stepInRound === 0) {
        if (state.round === steadyFrom && state.steadyElapsedMs === undefined) state.steadyElapsedMs = state.elapsedMs;
        const started = clock();
        const batch = await synthesizer.synthesizeBatch(state.round, {
          student: options.synthesizeAgainstStudent === false ? undefined : student,
          signal: options.signal,
          onStep: options.onSynthesisStep,
        });
        if (batch == null) {
          // Stopped mid-batch: the unfinished batch is dropped, the round starts over on resume.
          await save();
          return result(true);
        }
        const spent = clock() - started;
        state.synthesisMs += spent;
        state.elapsedMs += spent;
        state.imagesSynthesized += batch.shape[0];
        state.pool.push(batch);
        boundPool(state.pool, settings.poolLimit);
      }
      const pool = ImagePool.from(state.pool, `${WHAT}: pool`, shape);
      const totalSteps = state.plannedRounds === undefined ? undefined : state.plannedRounds * settings.kdSteps;
      const schedule = totalSteps === undefined ? () => settings.learningRate : cosineRate(settings.learningRate);
      let lossSum = 0;
      let lossCount = 0;
      let learningRate = settings.learningRate;
      const distillStarted = clock();
      for (; state.stepInRound < settings.kdSteps; state.stepInRound++) {
        if (options.signal?.aborted) break;
        // Each step draws from (seed, round, step) alone, so a run stopped mid-round resumes exactly.
        const random = new Random(deriveSeed(settings.seed, WHAT, 'round', state.round, 'step', state.stepInRound));
        const indices = new Int32Array(settings.batchSize);
        for (let i = 0; i < indices.length; i++) indices[i] = random.int(0, pool.count - 1);
        const { images01 } = pool.gather(indices);
        const hostBatch: HostBatch = {
          images01: cropFlip(images01, indices.length, shape, settings.augmentation, random),
          count: indices.length,
        };
        learningRate = schedule(state.kdSteps, totalSteps ?? 1);
        const { loss, terms } = runStep(spec, hostBatch, shape, variables, (grads) => optimizer.step(grads, learningRate));
        state.kdSteps += 1;
        if (!Number.isFinite(loss)) throw new TrainingDivergenceError(WHAT, state.kdSteps, { loss, ...terms });
        lossSum += loss;
        lossCount += 1;
      }
      const distilling = clock() - distillStarted;
      state.kdMs += distilling;
      state.elapsedMs += distilling;
      if (state.stepInRound < settings.kdSteps) {
        await save();
        return result(true);
      }
      state.stepInRound = 0;
      state.round += 1;
      if (state.plannedRounds === undefined) state.plannedRounds = plannedRounds(state, options.budgetMs as number, steadyFrom, settings);
      const last = state.round === state.plannedRounds;
      let testAccuracy: number | undefined;
      if (testSet != null && (state.round % settings.evaluateEvery === 0 || last)) {
        const predictions = await predictTestSet(student, testSet, shape, normalization, 256);
        let correct = 0;
        for (let i = 0; i < testSet.count; i++) if (predictions[i] === testSet.labels[i]) correct += 1;
        testAccuracy = correct / testSet.count;
        state.evaluations.push({
          round: state.round,
          elapsedMs: state.elapsedMs,
          imagesSynthesized: state.imagesSynthesized,
          kdSteps: state.kdSteps,
          accuracy: testAccuracy,
        });
      }
      const poolSize = state.pool.reduce((n, b) => n + b.shape[0], 0);
      await options.onRound?.({
        round: state.round,
        rounds: state.plannedRounds,
        poolSize,
        imagesSynthesized: state.imagesSynthesized,
        kdSteps: state.kdSteps,
        kdLoss: lossCount === 0 ? NaN : lossSum / lossCount,
        learningRate,
        synthesisLoss: state.pool[state.pool.length - 1].loss,
        ...(testAccuracy === undefined ? {} : { testAccuracy }),
        ...(lastAccuracy() === undefined ? {} : { lastTestAccuracy: lastAccuracy() }),
        elapsedMs: state.elapsedMs,
        synthesisMs: state.synthesisMs,
        kdMs: state.kdMs,
        ...(state.plannedRounds === undefined ? {} : { etaMs: (state.elapsedMs / state.round) * (state.plannedRounds - state.round) }),
      });
      if (last || Date.now() - lastSave >= settings.checkpointEveryMs) await save();
    }
    return result(false);
  } finally {
    optimizer.dispose();
  }
}
