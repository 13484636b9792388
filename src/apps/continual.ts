/** DeepInversion's data-free continual learning: add classes without the old classes' data. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputNormalization } from '../models/teacher';
import { crossEntropyLoss, kdLoss } from '../objectives/losses';
import { tapNetwork } from '../taps';
import { deriveSeed, Random } from '../util/random';
import {
  assertSeparateModels,
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkPositiveNumber,
  Classifier,
  modelClasses,
  modelInputShape,
  modelOfClassifier,
  resolveNormalization,
} from './common';
import { cropFlip, ImagePool, LabelledSet, permutation, resolveLabelled, TrainingImages } from './images';
import { HostBatch, loopSettings, trainLoop, TrainingOptions, TrainingResult } from './loop';
import { consumersOf, copyWeights, modelConfig, rebuildModel } from './rebuild';

/** Options of {@link continualLearning}. */
export interface ContinualLearningOptions extends TrainingOptions {
  /** The network trained on the old classes (logits over `oldClasses`); inference mode, never updated. */
  readonly oldModel: Classifier;
  /** Number of old classes: the student's outputs 0..oldClasses-1 are the old model's classes. */
  readonly oldClasses: number;
  /** Real data of the new classes: NHWC pixels in [0, 1] (Float32Array or tensor) and labels in 0..K-1 of the student's K outputs. */
  readonly newData: LabelledSet;
  /** Images synthesized from the old model (e.g. by deepInversion(oldTeacher)), in [0, 1]; their targets are not used. */
  readonly synthesized: TrainingImages;
  /** The extended classifier with oldClasses + new classes outputs (e.g. extendClassifier(oldModel, ...)); trained in training mode. */
  readonly student: tfl.LayersModel;
  /** KD temperature on the old-class logits. Default 2 (LwF's). */
  readonly temperature?: number;
  /** Weight lambda of the KD term. Default 1. */
  readonly kdWeight?: number;
  /** Synthesized images per step. Default: batchSize. */
  readonly synthesizedBatchSize?: number;
  /** Normalization of both networks' inputs. Default: the old model's when it is a Teacher; required otherwise. */
  readonly normalization?: InputNormalization;
}

/**
 * Data-free continual learning as in DeepInversion (Yin et al. 2020, sec. 4.4): the extended
 * classifier learns new classes from their real data while images synthesized from the old model
 * stand in for the old classes' data. Each step takes a minibatch of `batchSize` new-class images
 * (x_n, y_n) and one of `synthesizedBatchSize` synthesized images x_s, both cropped and flipped,
 * runs the student once in training mode on their concatenation (BatchNorm statistics over both),
 * and minimizes
 *
 *   L = CE(z(x_n), y_n) + lambda * T^2 * KL(softmax(o(x_s)/T) || softmax(z(x_s)[:, :K_old]/T))
 *
 * with z the student's logits over all K classes (CE over all of them), o the old model's logits
 * (inference mode, no gradient) on the same augmented x_s, K_old = `oldClasses`, each term a
 * mean over its own images. Defaults (ours; the paper gives none for CIFAR): T 2, lambda 1,
 * 30 epochs over the new data (the synthesized minibatches cycle through their own shuffled pool),
 * batch 128 + 128, SGD lr 0.01 cosine to 0, momentum 0.9, coupled weight decay 1e-4.
 * With `testSet`, each epoch reports top-1 accuracy and, in testMetrics, the accuracy on test
 * images of old classes (label < oldClasses) and of new ones.
 *
 * @example
 * const student = extendClassifier(oldTeacher.model, { numClasses: 10, seed: 0 });
 * await continualLearning({ oldModel: oldTeacher, oldClasses: 5, newData, synthesized: batches, student });
 */
export async function continualLearning(options: ContinualLearningOptions): Promise<TrainingResult> {
  const what = 'continualLearning';
  if (options == null || typeof options !== 'object')
    throw new Error(`${what}: options { oldModel, oldClasses, newData, synthesized, student } are required.`);
  const oldModel = modelOfClassifier(options.oldModel, `${what}: options.oldModel`);
  const student = modelOfClassifier(options.student, `${what}: options.student`);
  assertSeparateModels(student, 'student', oldModel, 'old model', what);
  const oldClasses = checkPositiveInteger(options.oldClasses, `${what}: oldClasses`);
  const oldOutputs = modelClasses(oldModel, `${what}: oldModel`);
  if (oldOutputs !== oldClasses) throw new Error(`${what}: oldClasses is ${oldClasses} but the old model has ${oldOutputs} outputs.`);
  const classes = modelClasses(student, `${what}: student`);
  if (classes <= oldClasses) {
    throw new Error(
      `${what}: the student has ${classes} outputs; it needs the ${oldClasses} old classes plus at least one new one (see extendClassifier).`,
    );
  }
  const shape = modelInputShape(student, what);
  const oldShape = modelInputShape(oldModel, `${what}: oldModel`);
  if (shape.some((d, i) => d !== oldShape[i]))
    throw new Error(`${what}: the student takes ${shape.join('x')} images but the old model ${oldShape.join('x')}.`);
  const normalization = resolveNormalization(what, options.normalization, options.oldModel);
  const temperature = checkPositiveNumber(options.temperature ?? 2, `${what}: temperature`);
  const kdWeight = checkNonNegativeNumber(options.kdWeight ?? 1, `${what}: kdWeight`);

  const fresh = resolveLabelled(options.newData, shape, classes, `${what}: newData`);
  if (fresh.kind !== 'images01')
    throw new Error(`${what}: newData needs images01 (pixels in [0, 1]) so that it can be cropped and flipped.`);
  const host = fresh.host ?? Float32Array.from((fresh.tensor as tf.Tensor4D).dataSync());
  const newPool = ImagePool.from(
    { images01: host, count: fresh.count, shape: [fresh.count, ...shape], targets: fresh.labels },
    `${what}: newData`,
    shape,
  );
  const synthetic = ImagePool.from(options.synthesized, `${what}: synthesized`, shape);

  const defaults = { epochs: 30, batchSize: 128, learningRate: 0.01, weightDecay: 1e-4, schedule: 'cosine' as const };
  const settings = loopSettings(what, options, defaults, (b) => Math.ceil(newPool.count / b));
  const synthBatch = checkPositiveInteger(options.synthesizedBatchSize ?? settings.batchSize, `${what}: synthesizedBatchSize`);
  const { batchSize, augmentation } = settings;
  const seed = options.seed ?? 0;
  // The synthesized images cycle through their own shuffled order, reshuffled per pass.
  const synthRandom = new Random(deriveSeed(seed, what, 'synthesized'));
  let synthOrder = permutation(synthetic.count, synthRandom);
  let synthAt = 0;
  const nextSynthetic = (): Int32Array => {
    const picked = new Int32Array(Math.min(synthBatch, synthetic.count));
    for (let i = 0; i < picked.length; i++) {
      if (synthAt === synthetic.count) {
        synthOrder = permutation(synthetic.count, synthRandom);
        synthAt = 0;
      }
      picked[i] = synthOrder[synthAt++];
    }
    return picked;
  };
  let order: Int32Array = new Int32Array(0);
  let orderEpoch = -1;
  const network = tapNetwork(oldModel);
  const size = shape[0] * shape[1] * shape[2];
  type Split = { readonly count: number; readonly newCount: number };

  return trainLoop<tf.Tensor>(
    {
      what,
      model: student,
      normalization,
      stepsPerEpoch: Math.ceil(newPool.count / batchSize),
      batch: (epoch, k, random): HostBatch & Split => {
        if (orderEpoch !== epoch) {
          order = permutation(newPool.count, random);
          orderEpoch = epoch;
        }
        const newIndices = order.subarray(k * batchSize, Math.min((k + 1) * batchSize, newPool.count));
        const a = newPool.gather(newIndices);
        const s = synthetic.gather(nextSynthetic());
        const count = newIndices.length + s.images01.length / size;
        const images01 = new Float32Array(count * size);
        images01.set(a.images01);
        images01.set(s.images01, a.images01.length);
        return { images01: cropFlip(images01, count, shape, augmentation, random), count, targets: a.targets, newCount: newIndices.length };
      },
      // The old model's logits on the augmented synthesized half, outside the tape.
      prepare: (batch, inputs) => {
        const { newCount } = batch as HostBatch & Split;
        return tf.tidy(() => {
          const x = tf.slice(inputs, [newCount, 0, 0, 0], [batch.count - newCount, -1, -1, -1]);
          return network.forward(x).logits;
        });
      },
      loss: (logits, batch, oldLogits) => {
        const { newCount } = batch as HostBatch & Split;
        const ce = tf.tidy(() =>
          crossEntropyLoss(tf.slice(logits, [0, 0], [newCount, classes]), tf.tensor1d(batch.targets as Int32Array, 'int32')),
        );
        const kd = tf.tidy(() => kdLoss(tf.slice(logits, [newCount, 0], [batch.count - newCount, oldClasses]), oldLogits, temperature));
        const total = tf.tidy(() => tf.add(ce, tf.mul(kd, kdWeight)) as tf.Scalar);
        return { total, terms: { ce, kd } };
      },
      testMetrics: (labels, predictions) => {
        let oldRight = 0;
        let oldCount = 0;
        let newRight = 0;
        let newCount = 0;
        labels.forEach((label, i) => {
          const right = predictions[i] === label ? 1 : 0;
          if (label < oldClasses) {
            oldCount += 1;
            oldRight += right;
          } else {
            newCount += 1;
            newRight += right;
          }
        });
        return {
          ...(oldCount > 0 ? { oldClassAccuracy: oldRight / oldCount } : {}),
          ...(newCount > 0 ? { newClassAccuracy: newRight / newCount } : {}),
        };
      },
      defaults,
      options,
    },
    settings,
  );
}

/** Options of {@link extendClassifier}. */
export interface ExtendClassifierOptions {
  /** Outputs of the new classifier (old classes first). Must exceed the model's. */
  readonly numClasses: number;
  /** Seed of the new classes' head weights. Default 0. */
  readonly seed?: number;
  /** Name of the new model. Default `<model name>_extended`. */
  readonly name?: string;
}

/**
 * A copy of a classifier with more outputs, for {@link continualLearning}: every weight copied,
 * the final Linear layer's rows of the old classes kept (outputs 0..old-1 unchanged) and the new
 * classes' weights and biases drawn as PyTorch's nn.Linear default, U(+-1/sqrt(fan_in)), from
 * `seed`. The final layer must be a Dense producing the model's output. The input model is unchanged.
 */
export function extendClassifier(model: tfl.LayersModel, options: ExtendClassifierOptions): tfl.LayersModel {
  const what = 'extendClassifier';
  const base = modelOfClassifier(model, `${what}: model`);
  const old = modelClasses(base, what);
  const numClasses = checkPositiveInteger(options?.numClasses, `${what}: numClasses`);
  if (numClasses <= old) throw new Error(`${what}: numClasses (${numClasses}) must exceed the model's ${old} outputs.`);
  const config = modelConfig(base, what);
  const [headName] = config.outputLayers[0];
  const head = config.layers.find((l) => l.name === headName);
  if (head == null || head.className !== 'Dense' || (consumersOf(config).get(headName) ?? []).length > 0) {
    throw new Error(`${what}: the model's output layer '${headName}' must be a Dense (Linear) layer producing the logits.`);
  }
  head.config.units = numClasses;
  config.name = options.name ?? `${base.name}_extended`;
  const seed = options.seed ?? 0;
  const extended = rebuildModel(config, (layer) =>
    tf.tidy(() => {
      const values = copyWeights(base.getLayer(layer.name));
      if (layer.name !== headName) return values;
      const [kernel, bias] = values;
      const fanIn = kernel.shape[0];
      const bound = 1 / Math.sqrt(fanIn);
      const added = numClasses - old;
      const newKernel = tf.randomUniform([fanIn, added], -bound, bound, 'float32', deriveSeed(seed, what, 'kernel'));
      const out = [tf.concat([kernel, newKernel], 1)];
      if (bias != null) out.push(tf.concat([bias, tf.randomUniform([added], -bound, bound, 'float32', deriveSeed(seed, what, 'bias'))], 0));
      return out;
    }),
  );
  extended.trainable = true;
  return extended;
}
