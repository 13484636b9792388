import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed } from '../util/random';
import { ParameterSet } from './parameters';
import type { ImageSource } from './types';

/** Options of {@link pixels}. */
export interface PixelsOptions {
  /** Number of images. Required. */
  batchSize: number;
  /** [height, width, channels] of one image. Default [32, 32, 3]. */
  imageShape?: readonly [number, number, number];
  /** Seed of the initial pixels. Required. */
  seed: number;
  /** Learning rate of the `pixels` group. Default 0.05 (DeepInversion CIFAR). */
  learningRate?: number;
}

/** A source that optimizes the pixels themselves (DeepInversion). */
export interface PixelsSource extends ImageSource {
  /** The images, [B, H, W, C], in the teacher's normalized input space. */
  readonly pixels: tf.Variable;
}

/**
 * DeepInversion's parametrization: one variable group `pixels` holding a [B, H, W, C] batch
 * initialised N(0, 1) in the teacher's normalized input space; render returns its value (a new
 * tensor handle the caller owns).
 */
export function pixels(options: PixelsOptions): PixelsSource {
  if (options == null || typeof options !== 'object') {
    throw new Error('pixels: pass an options object { batchSize, seed }.');
  }
  const { batchSize, seed } = options;
  const imageShape = options.imageShape ?? [32, 32, 3];
  const learningRate = options.learningRate ?? 0.05;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`pixels: batchSize must be a positive integer, got ${batchSize}.`);
  }
  if (!Array.isArray(imageShape) || imageShape.length !== 3 || imageShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`pixels: imageShape must be [height, width, channels] of positive integers, got ${JSON.stringify(imageShape)}.`);
  }
  if (!Number.isInteger(seed)) throw new Error(`pixels: seed must be an integer, got ${seed}.`);
  if (!(Number.isFinite(learningRate) && learningRate > 0)) {
    throw new Error(`pixels: learningRate must be a positive number, got ${learningRate}.`);
  }
  const params = new ParameterSet('pixels');
  const variable = params.add('pixels', tf.randomNormal([batchSize, ...imageShape], 0, 1, 'float32', deriveSeed(seed, 'pixels')), 'same');
  return {
    name: 'pixels',
    batchSize,
    pixels: variable,
    groups: [{ name: 'pixels', variables: [variable], learningRate }],
    render: () => {
      params.assertLive();
      // A new handle on the same data: the caller may dispose it without destroying the variable.
      return tf.clone(variable) as tf.Tensor4D;
    },
    dispose: () => params.dispose(),
  };
}
