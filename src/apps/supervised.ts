/** Training a classifier on synthesized images: fine-tuning (after pruning) and training from scratch. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputNormalization, Teacher } from '../models/teacher';
import { crossEntropyLoss, kdLoss } from '../objectives/losses';
import { LearningRateSchedule } from '../optim';
import { normalize } from '../synthesis/batch';
import { tapNetwork } from '../taps';
import {
  assertSeparateModels,
  checkPositiveNumber,
  isTeacher,
  modelClasses,
  modelInputShape,
  modelOfClassifier,
  resolveNormalization,
} from './common';
import { poolBatches } from './distill';
import { ImagePool, labelsOf, TrainingImages } from './images';
import { loopSettings, LossValue, LoopSpec, stepDecayRate, trainLoop, TrainingOptions, TrainingResult } from './loop';

/** Options of {@link fineTune}. */
export interface FineTuneOptions extends TrainingOptions {
  /** The network fine-tuned (e.g. pruneFilters' result); trained in training mode. */
  readonly model: tfl.LayersModel;
  /** Synthesized images in [0, 1] (with targets when `labels` is 'targets'). */
  readonly images: TrainingImages;
  /**
   * `targets`: cross-entropy toward each image's target class (default). `teacher`: knowledge
   * distillation toward the teacher's soft labels, KL x T^2 (needs `teacher`).
   */
  readonly labels?: 'targets' | 'teacher';
  /** The original network: soft labels for `labels: 'teacher'`, and the default normalization. */
  readonly teacher?: Teacher;
  /** KD temperature for `labels: 'teacher'`. Default 20. */
  readonly temperature?: number;
  /** Normalization of the model's inputs. Default: the teacher's; required without a teacher. */
  readonly normalization?: InputNormalization;
}

/** Options of {@link trainFromScratch}. */
export interface TrainFromScratchOptions extends Omit<TrainingOptions, 'schedule'> {
  /** A freshly initialized network, trained in training mode. */
  readonly model: tfl.LayersModel;
  /** Synthesized images in [0, 1] with their target classes. */
  readonly images: TrainingImages;
  /** Normalization of the model's inputs (e.g. the teacher's that made the images). Required. */
  readonly normalization: InputNormalization;
  /**
   * `cosine` (default): from lr to 0 over every step. `step`: lr x 0.1 after 50 % and again after
   * 75 % of the steps (the usual CIFAR step schedule). Or any (step, totalSteps) => rate.
   */
  readonly schedule?: 'cosine' | 'step' | LearningRateSchedule;
}

function targetsOf(pool: ImagePool, classes: number, what: string): void {
  labelsOf(pool.allTargets(what), pool.count, classes, `${what}: images' targets`);
}

/** The loop spec shared by both: CE toward the targets, or KD toward a teacher. */
function supervisedSpec(
  what: string,
  model: tfl.LayersModel,
  pool: ImagePool,
  normalization: InputNormalization,
  options: TrainingOptions,
  defaults: LoopSpec<tf.Tensor | never[]>['defaults'],
  teacher: { readonly teacher: Teacher; readonly temperature: number } | undefined,
) {
  const settings = loopSettings(what, options, defaults, (b) => Math.ceil(pool.count / b));
  const shape = pool.imageShape as [number, number, number];
  const network = teacher === undefined ? undefined : tapNetwork(teacher.teacher.model);
  const spec: LoopSpec<tf.Tensor | never[]> = {
    what,
    model,
    normalization,
    stepsPerEpoch: Math.ceil(pool.count / settings.batchSize),
    batch: poolBatches(pool, settings.batchSize, settings.augmentation),
    prepare: (batch, inputs) => {
      if (teacher === undefined || network === undefined) return [];
      const same = teacher.teacher.normalization === normalization;
      return tf.tidy(
        () =>
          network.forward(same ? inputs : normalize(tf.tensor4d(batch.images01, [batch.count, ...shape]), teacher.teacher.normalization))
            .logits,
      );
    },
    loss: (logits, batch, prepared): LossValue => {
      if (teacher !== undefined) {
        const kd = kdLoss(logits, prepared as tf.Tensor, teacher.temperature);
        return { total: kd, terms: { kd } };
      }
      const ce = tf.tidy(() => crossEntropyLoss(logits, tf.tensor1d(batch.targets as Int32Array, 'int32')));
      return { total: ce, terms: { ce } };
    },
    defaults,
    options,
  };
  return trainLoop(spec, settings);
}

/**
 * Fine-tunes a network on synthesized images, as after filter pruning in the NaturalInversion
 * paper: 20 epochs of SGD at a constant lr 1e-3 (momentum 0.9, coupled weight decay 1e-4),
 * batch 128, per-image crop (4 px zero padding) + flip, with either the images' target labels
 * (cross-entropy, default) or the teacher's soft labels (`labels: 'teacher'`, KL x T^2 with T 20;
 * the teacher runs in inference mode and is never updated). The model runs in training mode.
 *
 * @example
 * const { model: pruned } = pruneFilters(teacher.model, { ratio: 0.5 });
 * await fineTune({ model: pruned, images: await readDataset('out/ni'), teacher, labels: 'teacher' });
 */
export async function fineTune(options: FineTuneOptions): Promise<TrainingResult> {
  const what = 'fineTune';
  if (options == null || typeof options !== 'object') throw new Error(`${what}: options { model, images } are required.`);
  const model = modelOfClassifier(options.model, `${what}: options.model`);
  const labels = options.labels ?? 'targets';
  if (labels !== 'targets' && labels !== 'teacher') throw new Error(`${what}: labels must be 'targets' or 'teacher', got '${labels}'.`);
  const teacher = options.teacher;
  if (teacher != null && !isTeacher(teacher))
    throw new Error(`${what}: options.teacher must be a natinv Teacher (it carries its normalization).`);
  if (labels === 'teacher' && teacher == null)
    throw new Error(`${what}: labels 'teacher' needs options.teacher, whose soft labels the model learns.`);
  if (teacher != null) assertSeparateModels(model, 'model', teacher.model, 'teacher', what);
  const classes = modelClasses(model, what);
  if (teacher != null && labels === 'teacher' && modelClasses(teacher.model, `${what}: teacher`) !== classes) {
    throw new Error(`${what}: the model has ${classes} outputs but the teacher ${modelClasses(teacher.model, what)}.`);
  }
  const pool = ImagePool.from(options.images, `${what}: images`, modelInputShape(model, what));
  if (labels === 'targets') targetsOf(pool, classes, what);
  const normalization = resolveNormalization(what, options.normalization, teacher);
  const temperature = checkPositiveNumber(options.temperature ?? 20, `${what}: temperature`);
  const defaults = { epochs: 20, batchSize: 128, learningRate: 1e-3, weightDecay: 1e-4, schedule: 'constant' as const };
  return supervisedSpec(
    what,
    model,
    pool,
    normalization,
    options,
    defaults,
    labels === 'teacher' ? { teacher: teacher as Teacher, temperature } : undefined,
  );
}

/**
 * Trains a network from scratch on synthesized images with their target labels (cross-entropy),
 * the NaturalInversion paper's protocol: SGD lr 0.05, momentum 0.9, coupled weight decay 5e-4,
 * batch 128, 200 epochs, cosine schedule from 0.05 to 0 over every step (or `schedule: 'step'`),
 * per-image crop (4 px zero padding) + horizontal flip. The model runs in training mode.
 *
 * @example
 * const model = buildZooModel('resnet20', { seed: 0 });
 * await trainFromScratch({ model, images: await readDataset('out/ni'), normalization: teacher.normalization });
 */
export async function trainFromScratch(options: TrainFromScratchOptions): Promise<TrainingResult> {
  const what = 'trainFromScratch';
  if (options == null || typeof options !== 'object') throw new Error(`${what}: options { model, images, normalization } are required.`);
  const model = modelOfClassifier(options.model, `${what}: options.model`);
  const pool = ImagePool.from(options.images, `${what}: images`, modelInputShape(model, what));
  targetsOf(pool, modelClasses(model, what), what);
  const normalization = resolveNormalization(what, options.normalization);
  const learningRate = options.learningRate ?? 0.05;
  const choice = options.schedule ?? 'cosine';
  let schedule: LearningRateSchedule | undefined;
  if (typeof choice === 'function') schedule = choice;
  else if (choice === 'step') schedule = stepDecayRate(checkPositiveNumber(learningRate, `${what}: learningRate`));
  else if (choice !== 'cosine')
    throw new Error(`${what}: schedule must be 'cosine', 'step' or a function (step, totalSteps) => rate, got '${String(choice)}'.`);
  const defaults = { epochs: 200, batchSize: 128, learningRate: 0.05, weightDecay: 5e-4, schedule: 'cosine' as const };
  return supervisedSpec(what, model, pool, normalization, { ...options, learningRate, schedule }, defaults, undefined);
}
