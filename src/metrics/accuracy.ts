/** Top-1 accuracy of a classifier on labelled images, and of a verifier on synthesized targets. */
import * as tf from '@tensorflow/tfjs-core';
import type { InputNormalization } from '../models/teacher';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { ImageBatches, Network } from './batches';
import { collectProbabilities, topOne } from './predictions';

/** A top-1 accuracy with its counts. */
export interface Accuracy {
  /** correct / total, in [0, 1]. */
  readonly accuracy: number;
  readonly correct: number;
  readonly total: number;
}

/** Images (normalized NHWC) with one label per image, in the same order. */
export interface LabelledImages {
  readonly images: ImageBatches;
  /** One class index per image; a tensor is read, not disposed. */
  readonly labels: ArrayLike<number> | tf.Tensor;
}

/** Options of {@link evaluate} and {@link verifierAccuracy}. */
export interface EvaluateOptions {
  /** Images per forward pass. Default 256. */
  readonly batchSize?: number;
  /** Dispose each tensor an iterator yields once it is used. Default true. */
  readonly disposeBatches?: boolean;
}

function labelsOf(labels: ArrayLike<number> | tf.Tensor, what: string): ArrayLike<number> {
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1)
      throw new Error(`${what}: labels must be one class index per image (rank 1), got shape [${labels.shape.join(', ')}].`);
    return labels.dataSync();
  }
  if (labels == null || typeof labels.length !== 'number') throw new Error(`${what}: labels must be an array of class indices.`);
  return labels;
}

async function accuracyOf(
  network: Network,
  images: ImageBatches,
  labels: ArrayLike<number> | tf.Tensor,
  options: EvaluateOptions,
  what: string,
): Promise<Accuracy> {
  const want = labelsOf(labels, what);
  const predictions = await collectProbabilities(network, images, options, what);
  if (want.length !== predictions.count) {
    throw new Error(`${what}: ${predictions.count} images but ${want.length} labels; give one label per image, in the same order.`);
  }
  const { accuracy, correct, total } = topOneAccuracy(topOne(predictions), want, predictions.numClasses, what);
  return { accuracy, correct, total };
}

/** A top-1 accuracy with its counts per class. */
export interface ClassAccuracy extends Accuracy {
  /** Per class index: images of that class, and how many of them were predicted as it. */
  readonly perClass: ReadonlyArray<{ readonly correct: number; readonly total: number }>;
}

/**
 * Top-1 accuracy of predicted classes against labels, overall and per class. Throws, naming
 * `what`, when the lengths differ or a label is not a class index in [0, numClasses).
 */
export function topOneAccuracy(
  predicted: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  what = 'topOneAccuracy',
): ClassAccuracy {
  if (predicted.length !== labels.length) {
    throw new Error(`${what}: ${predicted.length} predictions but ${labels.length} labels; give one label per image, in the same order.`);
  }
  const perClass = Array.from({ length: numClasses }, () => ({ correct: 0, total: 0 }));
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new Error(`${what}: label ${label} at index ${i} is not a class index in [0, ${numClasses}).`);
    }
    perClass[label].total++;
    if (predicted[i] === label) {
      perClass[label].correct++;
      correct++;
    }
  }
  return { accuracy: correct / predicted.length, correct, total: predicted.length, perClass };
}

/**
 * Top-1 accuracy of `model` on `data` (images in the model's normalized input space, NHWC, with
 * their labels), in inference mode, batched. Leaves no tensors behind.
 *
 * @example
 * const set = await readCifarFile('test_batch.bin.gz', { layout: 'cifar10' });
 * const images = normalize(tf.tensor4d(set.images, [set.count, 32, 32, 3]), teacher.normalization);
 * const { accuracy } = await evaluate(teacher, { images, labels: set.labels });
 */
export function evaluate(model: Network, data: LabelledImages, options: EvaluateOptions = {}): Promise<Accuracy> {
  if (data == null || data.images == null || data.labels == null) {
    return Promise.reject(new Error('evaluate: data must be { images, labels }.'));
  }
  return accuracyOf(model, data.images, data.labels, options, 'evaluate');
}

/**
 * How often an independent `verifier` (a network the images were not optimized against) assigns
 * synthesized images to the targets they were synthesized for: a check that the images carry
 * class evidence beyond the teacher's own quirks. `images` are in the verifier's normalized input
 * space (for the CIFAR ResNets the teacher's and the verifier's normalization are the same).
 *
 * @example
 * const { images, labels } = synthesizedImages(batches, verifier.normalization);
 * const { accuracy } = await verifierAccuracy(verifier, images, labels);
 * images.dispose();
 */
export function verifierAccuracy(
  verifier: Network,
  images: ImageBatches,
  targets: ArrayLike<number> | tf.Tensor,
  options: EvaluateOptions = {},
): Promise<Accuracy> {
  return accuracyOf(verifier, images, targets, options, 'verifierAccuracy');
}

/** Options of {@link synthesizedImages}. */
export interface SynthesizedImagesOptions {
  /**
   * Judge the images as the dataset's PNGs hold them (`images01`, clipped to [0, 1]) instead of
   * the unclipped images the teacher saw (`images`, what the papers' code evaluates). Default false.
   */
  readonly clipped?: boolean;
}

/**
 * Stacks synthesized batches into one tensor in a network's normalized input space, with their
 * targets: ready for {@link verifierAccuracy}, {@link evaluate} or {@link embedFeatures}. By
 * default the unclipped images the teacher saw, carried from each batch's normalization into
 * `normalization` (bit-exact when the two are the same). The caller disposes `images`.
 */
export function synthesizedImages(
  batches: readonly SynthesizedBatch[],
  normalization: InputNormalization,
  options: SynthesizedImagesOptions = {},
): { readonly images: tf.Tensor4D; readonly labels: Int32Array } {
  if (batches.length === 0) throw new Error('synthesizedImages: no batches given.');
  const [, h, w, c] = batches[0].shape;
  const mismatch = batches.find((b) => b.shape[1] !== h || b.shape[2] !== w || b.shape[3] !== c);
  if (mismatch !== undefined) {
    throw new Error(
      `synthesizedImages: batch ${mismatch.index} has images of ${mismatch.shape.slice(1).join('x')} but batch ${batches[0].index} of ${h}x${w}x${c}.`,
    );
  }
  if (normalization.mean.length !== c || normalization.std.length !== c) {
    throw new Error(
      `synthesizedImages: the normalization has ${normalization.mean.length} means and ${normalization.std.length} stds for ${c}-channel images.`,
    );
  }
  const identity: InputNormalization = { mean: new Array<number>(c).fill(0), std: new Array<number>(c).fill(1) };
  const count = batches.reduce((n, b) => n + b.shape[0], 0);
  const pixels = new Float32Array(count * h * w * c);
  const labels = new Int32Array(count);
  let at = 0;
  for (const batch of batches) {
    const out = pixels.subarray(at * h * w * c, (at + batch.shape[0]) * h * w * c);
    if (options.clipped === true) renormalize(batch.images01, identity, normalization, out);
    else renormalize(batch.images, batch.normalization, normalization, out);
    labels.set(batch.targets, at);
    at += batch.shape[0];
  }
  return { images: tf.tensor4d(pixels, [count, h, w, c]), labels };
}

/** Writes `(x * from.std + from.mean - to.mean) / to.std` per channel into `out` (a copy when equal). */
function renormalize(source: Float32Array, from: InputNormalization, to: InputNormalization, out: Float32Array): void {
  const channels = to.mean.length;
  const same = from.mean.every((m, i) => m === to.mean[i] && from.std[i] === to.std[i]);
  if (same) {
    out.set(source);
    return;
  }
  for (let i = 0; i < source.length; i++) {
    const k = i % channels;
    out[i] = (source[i] * from.std[k] + from.mean[k] - to.mean[k]) / to.std[k];
  }
}
