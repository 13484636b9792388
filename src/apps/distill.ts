/** Knowledge distillation of a teacher into a student on synthesized images. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputNormalization, Teacher } from '../models/teacher';
import { kdLoss } from '../objectives/losses';
import { normalize, SynthesizedBatch } from '../synthesis/batch';
import { tapNetwork } from '../taps';
import { deriveSeed } from '../util/random';
import {
  assertSeparateModels,
  checkPositiveNumber,
  checkStudentFitsTeacher,
  isTeacher,
  modelOfClassifier,
  resolveNormalization,
} from './common';
import { ArrivingImages, growingPoolBatches, isArriving, plannedImages, PoolGrowth } from './arriving';
import { cropFlip, ImagePool, permutation, TrainingImages } from './images';
import { HostBatch, loopSettings, LoopSpec, trainLoop, TrainingOptions, TrainingResult } from './loop';

/** Options of {@link distill}. */
export interface DistillOptions extends TrainingOptions {
  /** The network distilled from; run in inference mode, never updated. */
  readonly teacher: Teacher;
  /** The network trained (training mode; its trainable weights and BatchNorm moving statistics change). */
  readonly student: tfl.LayersModel;
  /**
   * Images in [0, 1]: synthesized batches, `{ images01, count, shape }` (e.g. readDataset's result),
   * or batches still arriving (followDataset's result: the pool grows in step with the schedule,
   * see batchesNeeded). Targets are not used.
   */
  readonly images: TrainingImages | ArrivingImages;
  /** KD temperature T: the loss is KL(teacher/T || student/T) x T^2. Default 20. */
  readonly temperature?: number;
  /** Normalization of the student's inputs. Default: the teacher's. */
  readonly studentNormalization?: InputNormalization;
  /** With arriving images: called as each batch joins the pool (awaited). */
  readonly onPoolGrowth?: (growth: PoolGrowth) => void | Promise<void>;
}

/** One epoch of a single image pool: a seeded permutation cut into minibatches, each cropped and flipped. */
export function poolBatches(pool: ImagePool, batchSize: number, augmentation: Parameters<typeof cropFlip>[3]) {
  let order: Int32Array | undefined;
  let orderEpoch = -1;
  return (epoch: number, k: number, random: Parameters<typeof cropFlip>[4]): HostBatch => {
    if (orderEpoch !== epoch) {
      order = permutation(pool.count, random);
      orderEpoch = epoch;
    }
    const indices = (order as Int32Array).subarray(k * batchSize, Math.min((k + 1) * batchSize, pool.count));
    const { images01, targets } = pool.gather(indices);
    return {
      images01: cropFlip(images01, indices.length, pool.imageShape, augmentation, random),
      count: indices.length,
      targets,
    };
  };
}

/**
 * Knowledge distillation (Hinton et al.): trains `student` to match `teacher` on `images` with
 * KL(softmax(teacher/T) || softmax(student/T)) x T^2 (batch mean). Defaults are the common
 * data-free KD recipe: T 20, SGD lr 0.1 with momentum 0.9 and coupled weight decay 1e-4, cosine
 * from 0.1 to 0 over every step of the run, batch 128, 200 epochs, and per image a random crop
 * after 4 pixels of zero padding plus a horizontal flip (p 0.5), drawn from `seed`.
 *
 * The teacher runs through `tapNetwork(teacher.model).forward` in inference mode, outside the
 * gradient tape; only the student's trainable weights receive gradients. The student runs in
 * training mode: BatchNorm normalizes with batch statistics and updates its moving statistics
 * (tfjs-layers updates them with the biased batch variance; PyTorch uses the unbiased one).
 * An epoch is one pass over the shuffled pool (the last minibatch may be smaller). With
 * `testSet`, the student's top-1 accuracy is measured after each epoch.
 *
 * Arriving images (`followDataset(folder)` while shards write it) train with the epochs and
 * schedule of the complete pool; each step draws its minibatch uniformly from the batches joined
 * so far, batch i joining before step batchesNeeded says (waiting for it if it has not arrived).
 * The run is then the same whenever each batch arrives.
 *
 * @example
 * const student = buildZooModel('resnet20', { seed: 1 });
 * const data = await readDataset('out/ni-resnet56');
 * await distill({ teacher, student, images: data, epochs: 200, testSet: { images01: test.images, labels: test.labels },
 *   onEpoch: (r) => console.log(r.epoch, r.loss, r.testAccuracy) });
 */
export async function distill(options: DistillOptions): Promise<TrainingResult> {
  const what = 'distill';
  if (options == null || typeof options !== 'object') throw new Error(`${what}: options { teacher, student, images } are required.`);
  const { teacher } = options;
  if (teacher == null || !isTeacher(teacher)) {
    throw new Error(
      `${what}: options.teacher must be a natinv Teacher (loadTeacher / loadBundledTeacher), which carries its normalization.`,
    );
  }
  const student = modelOfClassifier(options.student, `${what}: options.student`);
  assertSeparateModels(student, 'student', teacher.model, 'teacher', what);
  const temperature = checkPositiveNumber(options.temperature ?? 20, `${what}: temperature`);
  const shape = checkStudentFitsTeacher(student, teacher.model, what);
  const { images } = options;
  const pool = isArriving(images) ? undefined : ImagePool.from(images, `${what}: images`, shape);
  // Arriving images: epochs and the schedule are those of the complete pool.
  const count = pool?.count ?? plannedImages(images as ArrivingImages, `${what}: images`);
  const studentNormalization = resolveNormalization(what, options.studentNormalization, teacher);
  const sameInputs = studentNormalization === teacher.normalization;
  const defaults = { epochs: 200, batchSize: 128, learningRate: 0.1, weightDecay: 1e-4, schedule: 'cosine' as const };
  const settings = loopSettings(what, options, defaults, (b) => Math.ceil(count / b));
  const stepsPerEpoch = Math.ceil(count / settings.batchSize);
  let batch: LoopSpec<tf.Tensor2D>['batch'];
  if (pool !== undefined) {
    batch = poolBatches(pool, settings.batchSize, settings.augmentation);
  } else {
    const growing = growingPoolBatches(
      images as ArrivingImages,
      { ...settings, what, imageShape: shape, stepsPerEpoch, onPoolGrowth: options.onPoolGrowth },
      options.signal,
    );
    if (!(await growing.start())) return { history: [], steps: 0, aborted: true };
    batch = growing.batch;
  }
  const network = tapNetwork(teacher.model);
  return trainLoop(
    {
      what,
      model: student,
      normalization: studentNormalization,
      stepsPerEpoch,
      batch,
      prepare: (batch, inputs) =>
        tf.tidy(() => {
          const x = sameInputs ? inputs : normalize(tf.tensor4d(batch.images01, [batch.count, ...shape]), teacher.normalization);
          return network.forward(x).logits;
        }),
      loss: (logits, _batch, teacherLogits) => {
        const kd = kdLoss(logits, teacherLogits, temperature);
        return { total: kd, terms: { kd } };
      },
      defaults,
      options,
    },
    settings,
  );
}

/** Options of {@link studentTrainer}: {@link distill}'s, without the images (the pool is given per round). */
export interface StudentTrainerOptions extends Omit<DistillOptions, 'images' | 'checkpoint' | 'checkpointEvery'> {
  /** Epochs over the pool per round. Default 1. Ignored when `steps` is given (steps per round). */
  readonly epochs?: number;
  /** Called after every round with its result. */
  readonly onRound?: (round: number, result: TrainingResult) => void | Promise<void>;
}

/**
 * The `trainStudent(pool)` ADI's competition needs (`adaptiveDeepInversion(teacher, { competition:
 * { student, trainStudent: studentTrainer({ teacher, student }) } })`): each call is one round, a
 * short {@link distill} run on the whole pool so far with the same defaults, except 1 epoch per
 * round (or `steps` optimizer steps), a fresh optimizer and cosine schedule per round, and the
 * round's seed derived from (seed, round index).
 */
export function studentTrainer(options: StudentTrainerOptions): (pool: readonly SynthesizedBatch[]) => Promise<void> {
  if (options == null || typeof options !== 'object') throw new Error('studentTrainer: options { teacher, student } are required.');
  let round = 0;
  return async (pool) => {
    const { onRound, ...rest } = options;
    const result = await distill({
      ...rest,
      epochs: options.epochs ?? 1,
      images: pool,
      seed: deriveSeed(options.seed ?? 0, 'round', round),
    });
    await onRound?.(round, result);
    round += 1;
  };
}
