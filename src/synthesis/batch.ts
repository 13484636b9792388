import * as tf from '@tensorflow/tfjs-core';
import type { InputNormalization } from '../models/teacher';
import type { RunRecord } from './run-record';

/**
 * One finished batch of synthesized images, as plain data (no tensors to dispose): what the
 * trainers yield, what the dataset files store and what the applications read back.
 */
export interface SynthesizedBatch {
  /** Index of the batch in its run; the batch's randomness derives from (run seed, index). */
  readonly index: number;
  /** `deepInversion`, `adaptiveDeepInversion`, `naturalInversion`, ... */
  readonly method: string;
  /** The run's seed. */
  readonly seed: number;
  /** Name of the teacher that was inverted. */
  readonly teacher: string;
  /** [count, height, width, channels]. */
  readonly shape: readonly [number, number, number, number];
  /**
   * NHWC images in the teacher's normalized input space, unclipped: exactly what the teacher saw
   * at the kept step. The metrics judge these (as the papers' code does).
   */
  readonly images: Float32Array;
  /** The teacher's input normalization, which maps `images` to `images01`. */
  readonly normalization: InputNormalization;
  /**
   * The same images in [0, 1]: `images * std + mean` per channel, clipped. What the PNGs hold and
   * what the applications train on.
   */
  readonly images01: Float32Array;
  /** Target class per image. */
  readonly targets: Int32Array;
  /** The teacher's softmax probability of the target, per image, on the kept image. */
  readonly confidence: Float32Array;
  /** The teacher's top-1 class per image. */
  readonly predictions: Int32Array;
  /** Best total loss of the batch (the step whose images were kept). */
  readonly loss: number;
  /** Each loss term at that step. */
  readonly terms: Readonly<Record<string, number>>;
  /** Steps run. */
  readonly steps: number;
  /**
   * The run that made the batch (configuration, teacher fingerprint, backend, natinv's version),
   * when it was made from a configuration or read from a folder that records one.
   */
  readonly run?: RunRecord;
}

/** Maps normalized images back to [0, 1]: x * std + mean per channel, clipped. */
export function denormalize(images: tf.Tensor4D, normalization: InputNormalization): tf.Tensor4D {
  return tf.tidy(() =>
    tf.clipByValue(tf.add(tf.mul(images, tf.tensor1d([...normalization.std])), tf.tensor1d([...normalization.mean])), 0, 1),
  ) as tf.Tensor4D;
}

/** Maps [0, 1] images into a network's normalized input space: (x - mean) / std per channel. */
export function normalize(images01: tf.Tensor4D, normalization: InputNormalization): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(images01, tf.tensor1d([...normalization.mean])), tf.tensor1d([...normalization.std]))) as tf.Tensor4D;
}
