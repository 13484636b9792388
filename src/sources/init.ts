import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed } from '../util/random';

/**
 * Seeded initializers with PyTorch's distributions. tf.randomNormal / tf.randomUniform draw on the
 * host (seedrandom), so a seed gives the same values on every backend. Each parameter derives its
 * own seed from the module seed and its name, so adding a parameter never shifts the others.
 */

/** N(mean, std^2), untruncated. */
export function normal(shape: number[], mean: number, std: number, seed: number, name: string): tf.Tensor {
  return tf.randomNormal(shape, mean, std, 'float32', deriveSeed(seed, name));
}

/** U(-bound, bound). */
export function uniform(shape: number[], bound: number, seed: number, name: string): tf.Tensor {
  return tf.randomUniform(shape, -bound, bound, 'float32', deriveSeed(seed, name));
}

/**
 * PyTorch's default Linear/Conv2d initialization (kaiming_uniform with a = sqrt(5) for the weight,
 * U(+-1/sqrt(fan_in)) for the bias): both come down to U(+-1/sqrt(fan_in)).
 */
export function pytorchDefaultBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

/** kaiming_normal_(mode='fan_in', nonlinearity='leaky_relu', a=0): std = sqrt(2 / fan_in). */
export function kaimingNormalStd(fanIn: number): number {
  return Math.sqrt(2 / fanIn);
}
