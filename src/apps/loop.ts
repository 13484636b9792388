/**
 * The supervised training loop every application shares: minibatches from host images, seeded
 * shuffling and crop + flip, the model in training mode (BatchNorm batch statistics, moving
 * statistics updated), gradients for the model's own trainable weights only, PyTorch SGD with a
 * per-step learning-rate schedule, per-epoch evaluation, checkpoints, progress and abort.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputNormalization } from '../models/teacher';
import { cosineWithWarmup, LearningRateSchedule, sgd } from '../optim';
import { normalize } from '../synthesis/batch';
import { BatchNormUpdate, tapNetwork } from '../taps';
import { commit } from '../util/commits';
import { yieldToEventLoop } from '../util/event-loop';
import { deriveSeed, Random } from '../util/random';
import { Checkpoint, saveCheckpoint, TrainingSnapshot } from './checkpoint';
import { modelStateTensors, restoreModelState } from './training-state';
import type { EpochReport, TrainStepReport, TrainingResult } from './reports';
import {
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkPositiveNumber,
  modelClasses,
  modelInputShape,
  trainableVariables,
} from './common';
import { predictTestSet } from './test-set';
import { CropFlipOptions, LabelledSet, resolveCropFlip, resolveLabelled, ResolvedLabelled } from './images';
import { topOneAccuracy } from '../metrics/accuracy';

export type { EpochReport, TrainStepReport, TrainingResult } from './reports';

/** Options every training application shares. Defaults are each application's own. */
export interface TrainingOptions {
  /** Passes over the training images. */
  readonly epochs?: number;
  /** Stop after this many optimizer steps instead (the last epoch may be partial). Default: epochs x steps per epoch. */
  readonly steps?: number;
  /** Images per minibatch. */
  readonly batchSize?: number;
  /** Base learning rate of SGD. */
  readonly learningRate?: number;
  /** SGD momentum (PyTorch: dampening 0). Default 0.9. */
  readonly momentum?: number;
  /** Coupled L2 weight decay (PyTorch SGD's weight_decay), on every trainable weight. */
  readonly weightDecay?: number;
  /** Nesterov momentum. Default false. */
  readonly nesterov?: boolean;
  /** Learning rate per step (0-based step, total steps). Default: each application's. */
  readonly schedule?: LearningRateSchedule;
  /** Crop (zero padding, then a random crop) + horizontal flip of every training image; false = none. Default { padding: 4, flip: true }. */
  readonly augmentation?: CropFlipOptions | false;
  /** Seed of the shuffling and augmentation draws. Default 0. */
  readonly seed?: number;
  /** Labelled images evaluated (top-1, inference mode) after every `evaluateEvery` epochs and after the last. */
  readonly testSet?: LabelledSet;
  /** Default 1. */
  readonly evaluateEvery?: number;
  /** Images per forward pass of the evaluation. Default 256. */
  readonly evaluationBatchSize?: number;
  /** Called after every epoch (awaited). */
  readonly onEpoch?: (report: EpochReport) => void | Promise<void>;
  /** Called after every optimizer step (awaited); keep it cheap. */
  readonly onStep?: (report: TrainStepReport) => void | Promise<void>;
  /** Stops before the next step; the result then has `aborted: true`. */
  readonly signal?: AbortSignal;
  /** Called after every `checkpointEvery` epochs (natinv/node's `checkpointFolder(dir)` writes files). */
  readonly checkpoint?: Checkpoint;
  /** Default 1. */
  readonly checkpointEvery?: number;
  /**
   * A snapshot a checkpoint received from an earlier run of the same application, options and
   * images: training continues after its epoch and ends as the uninterrupted run would have, bit
   * for bit on one backend. Its tensors stay the caller's.
   */
  readonly resume?: TrainingSnapshot;
}

/** One minibatch on the host: NHWC pixels in [0, 1], already augmented. */
export interface HostBatch {
  readonly images01: Float32Array;
  readonly count: number;
  readonly targets?: Int32Array;
}

/** A loss for one minibatch: the total to minimize and the terms to report. */
export interface LossValue {
  readonly total: tf.Scalar;
  readonly terms: Readonly<Record<string, tf.Scalar>>;
}

/** What an application plugs into {@link trainLoop}. */
export interface LoopSpec<P> {
  /** Names the application in errors and messages. */
  readonly what: string;
  readonly model: tfl.LayersModel;
  readonly normalization: InputNormalization;
  /** Optimizer steps in one epoch. */
  readonly stepsPerEpoch: number;
  /**
   * The minibatch of a step, from the epoch's seeded Random (shuffling and augmentation draws);
   * a pool still growing may wait for images first.
   */
  readonly batch: (epoch: number, stepInEpoch: number, random: Random) => HostBatch | Promise<HostBatch>;
  /** Computed outside the gradient tape (e.g. a teacher's logits); disposed after the step. */
  readonly prepare?: (batch: HostBatch, inputs: tf.Tensor4D) => P;
  /** The loss from the model's training-mode logits; runs on the gradient tape. */
  readonly loss: (logits: tf.Tensor2D, batch: HostBatch, prepared: P) => LossValue;
  /** Extra test numbers from the predictions (labels and predictions on the host). */
  readonly testMetrics?: (labels: Int32Array, predictions: Int32Array) => Record<string, number>;
  /** Defaults of the application, overridden by `options`. */
  readonly defaults: {
    readonly epochs: number;
    readonly batchSize: number;
    readonly learningRate: number;
    readonly weightDecay: number;
    readonly schedule: 'cosine' | 'constant';
  };
  readonly options: TrainingOptions;
}

/** Raised when a training loss stops being finite. */
export class TrainingDivergenceError extends Error {
  constructor(
    readonly what: string,
    readonly step: number,
    readonly terms: Readonly<Record<string, number>>,
  ) {
    const listed = Object.entries(terms)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ');
    super(
      `${what} diverged at step ${step}: the loss is no longer finite (${listed}). Lower the learning rate, or check the images and the models.`,
    );
    this.name = 'TrainingDivergenceError';
  }
}

/** Cosine from `rate` to 0 over the run, per step (no warm-up). */
export function cosineRate(rate: number): LearningRateSchedule {
  return cosineWithWarmup(rate, { warmupSteps: 0 });
}

/** `rate`, x 0.1 from half of the steps on, x 0.01 from three quarters on (the usual CIFAR step schedule). */
export function stepDecayRate(rate: number): LearningRateSchedule {
  return (step, total) => rate * (step >= 0.75 * total ? 0.01 : step >= 0.5 * total ? 0.1 : 1);
}

/** The resolved numbers of a run; exported for the applications' checks. */
export interface LoopSettings {
  readonly epochs: number;
  readonly totalSteps: number;
  readonly batchSize: number;
  readonly schedule: LearningRateSchedule;
  readonly augmentation: CropFlipOptions;
}

/** Checks the shared options; `stepsPerEpoch(batchSize)` tells the epoch length. */
export function loopSettings(
  what: string,
  options: TrainingOptions,
  defaults: LoopSpec<unknown>['defaults'],
  stepsPerEpoch: (batchSize: number) => number,
): LoopSettings {
  const batchSize = checkPositiveInteger(options.batchSize ?? defaults.batchSize, `${what}: batchSize`);
  const perEpoch = stepsPerEpoch(batchSize);
  let epochs = checkPositiveInteger(options.epochs ?? defaults.epochs, `${what}: epochs`);
  let totalSteps = epochs * perEpoch;
  if (options.steps != null) {
    totalSteps = checkPositiveInteger(options.steps, `${what}: steps`);
    epochs = Math.ceil(totalSteps / perEpoch);
  }
  const learningRate = checkPositiveNumber(options.learningRate ?? defaults.learningRate, `${what}: learningRate`);
  if (options.schedule != null && typeof options.schedule !== 'function') {
    throw new Error(`${what}: schedule must be a function (step, totalSteps) => rate, e.g. constantRate(0.01).`);
  }
  const schedule = options.schedule ?? (defaults.schedule === 'cosine' ? cosineRate(learningRate) : () => learningRate);
  return { epochs, totalSteps, batchSize, schedule, augmentation: resolveCropFlip(options.augmentation, `${what}: augmentation`) };
}

function readScalars(values: Readonly<Record<string, tf.Scalar>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(values)) out[name] = value.dataSync()[0];
  return out;
}

/**
 * Runs the loop. Shuffling and augmentation of epoch e draw from Random(deriveSeed(seed, e)), so a
 * run is deterministic given the model's initial weights, and leaves no tensors behind.
 */
export async function trainLoop<P extends tf.TensorContainer>(spec: LoopSpec<P>, settings: LoopSettings): Promise<TrainingResult> {
  const { what, model, options } = spec;
  const momentum = checkNonNegativeNumber(options.momentum ?? 0.9, `${what}: momentum`);
  const weightDecay = checkNonNegativeNumber(options.weightDecay ?? spec.defaults.weightDecay, `${what}: weightDecay`);
  const evaluateEvery = checkPositiveInteger(options.evaluateEvery ?? 1, `${what}: evaluateEvery`);
  const checkpointEvery = checkPositiveInteger(options.checkpointEvery ?? 1, `${what}: checkpointEvery`);
  if (options.checkpoint != null && typeof options.checkpoint !== 'function') {
    throw new Error(`${what}: checkpoint must be a function; for a folder of files pass checkpointFolder(dir) from 'natinv/node'.`);
  }
  const evaluationBatchSize = checkPositiveInteger(options.evaluationBatchSize ?? 256, `${what}: evaluationBatchSize`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new Error(`${what}: seed must be an integer, got ${seed}.`);
  const [h, w, c] = modelInputShape(model, what);
  const testSet: ResolvedLabelled | undefined =
    options.testSet == null ? undefined : resolveLabelled(options.testSet, [h, w, c], modelClasses(model, what), `${what}: testSet`);
  const variables = trainableVariables(model, what);
  const optimizer = sgd(variables, { momentum, weightDecay, nesterov: options.nesterov ?? false });
  const { epochs, totalSteps, schedule } = settings;
  const history: EpochReport[] = [];
  let step = 0;
  let testAccuracy: number | undefined;
  let firstEpoch = 0;
  try {
    if (options.resume != null) {
      const progress = checkResume(options.resume, what, totalSteps);
      restoreModelState(model, optimizer, { tensors: options.resume.tensors, momentumStarted: progress.momentumStarted }, 'model', what);
      history.push(...progress.history);
      step = progress.step;
      firstEpoch = progress.epochsDone;
      testAccuracy = progress.testAccuracy ?? undefined;
    }
    for (let epoch = firstEpoch; epoch < epochs; epoch++) {
      const started = Date.now();
      const random = new Random(deriveSeed(seed, what, 'epoch', epoch));
      const sums: Record<string, number> = {};
      let lossSum = 0;
      let stepsInEpoch = 0;
      let learningRate = 0;
      for (let k = 0; k < spec.stepsPerEpoch && step < totalSteps; k++) {
        // Lets a Ctrl-C handler run between steps, so an abort is seen after the current step.
        await yieldToEventLoop();
        if (options.signal?.aborted) return { history, steps: step, aborted: true, testAccuracy };
        const batch = await spec.batch(epoch, k, random);
        // An abort may have come while the batch waited for images.
        if (options.signal?.aborted) return { history, steps: step, aborted: true, testAccuracy };
        learningRate = schedule(step, totalSteps);
        const { loss, terms } = runStep(spec, batch, [h, w, c], variables, (grads) => optimizer.step(grads, learningRate));
        step += 1;
        stepsInEpoch += 1;
        if (!Number.isFinite(loss)) throw new TrainingDivergenceError(what, step, { loss, ...terms });
        lossSum += loss;
        for (const [name, value] of Object.entries(terms)) sums[name] = (sums[name] ?? 0) + value;
        await options.onStep?.({ step, steps: totalSteps, epoch: epoch + 1, loss, terms, learningRate });
      }
      const last = epoch === epochs - 1;
      let testMetrics: Record<string, number> | undefined;
      let accuracy: number | undefined;
      if (testSet != null && ((epoch + 1) % evaluateEvery === 0 || last)) {
        const predictions = await predictTestSet(model, testSet, [h, w, c], spec.normalization, evaluationBatchSize);
        accuracy = topOneAccuracy(predictions, testSet.labels, modelClasses(model, what), what).accuracy;
        testAccuracy = accuracy;
        testMetrics = spec.testMetrics?.(testSet.labels, predictions);
      }
      const terms: Record<string, number> = {};
      for (const [name, value] of Object.entries(sums)) terms[name] = value / stepsInEpoch;
      const report: EpochReport = {
        epoch: epoch + 1,
        epochs,
        step,
        steps: totalSteps,
        loss: lossSum / stepsInEpoch,
        terms,
        learningRate,
        ...(accuracy === undefined ? {} : { testAccuracy: accuracy }),
        ...(testMetrics === undefined ? {} : { testMetrics }),
        seconds: (Date.now() - started) / 1000,
      };
      history.push(report);
      if (options.checkpoint != null && ((epoch + 1) % checkpointEvery === 0 || last)) {
        const { tensors, momentumStarted } = modelStateTensors(model, optimizer, 'model');
        const snapshot: TrainingSnapshot = {
          json: {
            format: 'natinv-training',
            version: 1,
            what,
            epochsDone: epoch + 1,
            step,
            totalSteps,
            momentumStarted,
            history: [...history],
            testAccuracy: testAccuracy ?? null,
          },
          tensors,
        };
        try {
          await commit(() => saveCheckpoint(options.checkpoint as Checkpoint, model, report, snapshot));
        } finally {
          tf.dispose(Object.values(tensors));
        }
      }
      await options.onEpoch?.(report);
    }
  } finally {
    optimizer.dispose();
  }
  return { history, steps: step, aborted: false, testAccuracy };
}

/** The progress of `snapshot`, once it is known to continue this run (same application, same plan). */
function checkResume(snapshot: TrainingSnapshot, what: string, totalSteps: number): TrainingSnapshot['json'] {
  const { json } = snapshot;
  if (json?.format !== 'natinv-training' || json.version !== 1) {
    throw new Error(`${what}: options.resume is not a training snapshot (format natinv-training, version 1).`);
  }
  if (json.what !== what) throw new Error(`${what}: options.resume is a snapshot of ${json.what}, not of ${what}.`);
  if (json.totalSteps !== totalSteps) {
    throw new Error(
      `${what}: the snapshot was planned for ${json.totalSteps} steps, not ${totalSteps}; resume with the same epochs, batch size and images.`,
    );
  }
  return json;
}

/** One optimizer step; returns the loss and its terms measured before the update. */
export function runStep<P extends tf.TensorContainer>(
  spec: Pick<LoopSpec<P>, 'model' | 'normalization' | 'prepare' | 'loss'>,
  batch: HostBatch,
  [h, w, c]: [number, number, number],
  variables: tf.Variable[],
  update: (grads: tf.NamedTensorMap) => void,
): { loss: number; terms: Record<string, number> } {
  const inputs = tf.tidy(() => normalize(tf.tensor4d(batch.images01, [batch.count, h, w, c]), spec.normalization));
  let prepared: P | undefined;
  let kept: Record<string, tf.Scalar> = {};
  try {
    prepared = spec.prepare?.(batch, inputs);
    const network = tapNetwork(spec.model);
    let batchNorm: readonly BatchNormUpdate[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const forward = network.trainingForward(inputs);
      batchNorm = forward.batchNorm;
      const { total, terms } = spec.loss(forward.logits as tf.Tensor2D, batch, prepared as P);
      kept = Object.fromEntries(Object.entries(terms).map(([name, t]) => [name, tf.keep(t)]));
      return total;
    }, variables);
    try {
      const loss = value.dataSync()[0];
      const terms = readScalars(kept);
      if (Number.isFinite(loss)) update(grads);
      return { loss, terms };
    } finally {
      network.updateMovingStatistics(batchNorm);
      tf.dispose([value, ...Object.values(grads)]);
    }
  } finally {
    tf.dispose([inputs, ...Object.values(kept)]);
    if (prepared !== undefined) tf.dispose(prepared);
  }
}
