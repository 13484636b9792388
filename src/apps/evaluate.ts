/** Top-1 accuracy and predicted classes of a classifier, in inference mode and in batches. */
import * as tf from '@tensorflow/tfjs-core';
import type { InputNormalization } from '../models/teacher';
import { normalize } from '../synthesis/batch';
import { tapNetwork } from '../taps';
import { checkPositiveInteger, Classifier, modelClasses, modelInputShape, modelOfClassifier, resolveNormalization } from './common';
import { LabelledImages, resolveLabelled, ResolvedLabelled } from './images';

/** Options of {@link evaluate} and {@link predictClasses}. */
export interface EvaluateOptions {
  /**
   * Normalization applied to `images01`. Default: the Teacher's when a Teacher is given; required
   * for a bare LayersModel fed images01 (unused for already normalized `images`).
   */
  readonly normalization?: InputNormalization;
  /** Images per forward pass. Default 256. */
  readonly batchSize?: number;
}

/** What {@link evaluate} measured. */
export interface EvaluationResult {
  /** Top-1 accuracy in [0, 1]. */
  readonly accuracy: number;
  readonly correct: number;
  readonly count: number;
  /** The model's top-1 class per image. */
  readonly predictions: Int32Array;
}

/** Top-1 classes of a resolved set; no tensor outlives the call. */
export function predictResolved(
  model: Parameters<typeof tapNetwork>[0],
  data: ResolvedLabelled,
  normalization: InputNormalization | undefined,
  batchSize: number,
): Int32Array {
  const network = tapNetwork(model);
  const [h, w, c] = modelInputShape(model, 'evaluate');
  const predictions = new Int32Array(data.count);
  for (let start = 0; start < data.count; start += batchSize) {
    const size = Math.min(batchSize, data.count - start);
    const classes = tf.tidy(() => {
      let x: tf.Tensor4D;
      if (data.tensor != null) {
        x = tf.slice(data.tensor, [start, 0, 0, 0], [size, h, w, c]);
      } else {
        const host = (data.host as Float32Array).subarray(start * h * w * c, (start + size) * h * w * c);
        x = tf.tensor4d(host, [size, h, w, c]);
      }
      if (data.kind === 'images01') x = normalize(x, normalization as InputNormalization);
      return tf.argMax(network.forward(x).logits, -1);
    });
    predictions.set(classes.dataSync(), start);
    classes.dispose();
  }
  return predictions;
}

function prepare(model: Classifier, data: LabelledImages, options: EvaluateOptions, what: string) {
  const network = modelOfClassifier(model, `${what}: model`);
  const batchSize = checkPositiveInteger(options.batchSize ?? 256, `${what}: batchSize`);
  const resolved = resolveLabelled(data, modelInputShape(network, what), modelClasses(network, what), `${what}: data`);
  const normalization = resolved.kind === 'images01' ? resolveNormalization(what, options.normalization, model) : undefined;
  return { network, batchSize, resolved, normalization };
}

/**
 * Top-1 accuracy of `model` on labelled images, run in inference mode (BatchNorm moving
 * statistics, never updated) in batches of `batchSize`. `data.images01` (NHWC in [0, 1]) is
 * normalized with `options.normalization` (default: the Teacher's); `data.images` is taken as
 * already normalized. Leaves no tensors behind.
 *
 * @example
 * const test = await readCifarFile('test_batch.bin.gz', { layout: 'cifar10' });
 * const { accuracy } = evaluate(teacher, { images01: test.images, labels: test.labels });
 */
export function evaluate(model: Classifier, data: LabelledImages, options: EvaluateOptions = {}): EvaluationResult {
  const { network, batchSize, resolved, normalization } = prepare(model, data, options, 'evaluate');
  const predictions = predictResolved(network, resolved, normalization, batchSize);
  let correct = 0;
  for (let i = 0; i < resolved.count; i++) if (predictions[i] === resolved.labels[i]) correct += 1;
  return { accuracy: correct / resolved.count, correct, count: resolved.count, predictions };
}

/**
 * The top-1 class `model` predicts for each image (inference mode, batched); same inputs and
 * options as {@link evaluate}, without labels. Useful for teacher/student agreement:
 * `evaluate(student, { images01, labels: predictClasses(teacher, { images01 }) })`.
 */
export function predictClasses(model: Classifier, data: Omit<LabelledImages, 'labels'>, options: EvaluateOptions = {}): Int32Array {
  const network = modelOfClassifier(model, 'predictClasses: model');
  const [h, w, c] = modelInputShape(network, 'predictClasses');
  const images = data?.images ?? data?.images01;
  const count = images instanceof tf.Tensor ? images.shape[0] : images instanceof Float32Array ? Math.floor(images.length / (h * w * c)) : 0;
  const labels = new Int32Array(count);
  const { resolved, normalization, batchSize } = prepare(model, { ...data, labels }, options, 'predictClasses');
  return predictResolved(network, resolved, normalization, batchSize);
}
