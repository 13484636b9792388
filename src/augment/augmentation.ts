import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '../util/random';

/**
 * A random image transformation applied to a whole batch with one draw, as the papers' code
 * does. Draws come from the `Random` the caller passes, so a seeded run replays exactly.
 */
export interface Augmentation {
  readonly name: string;
  apply(images: tf.Tensor4D, random: Random): tf.Tensor4D;
}

/**
 * torch.roll on one axis: entries move `shift` places forward and wrap around
 * (tfjs has no roll; two slices and a concat have gradients).
 */
export function rollAxis(x: tf.Tensor4D, shift: number, axis: 1 | 2): tf.Tensor4D {
  const size = x.shape[axis];
  const s = ((shift % size) + size) % size;
  if (s === 0) return x;
  const begin = [0, 0, 0, 0];
  const tailSize = [...x.shape];
  const headSize = [...x.shape];
  begin[axis] = size - s;
  tailSize[axis] = s;
  headSize[axis] = size - s;
  const tail = tf.slice(x, begin, tailSize);
  const head = tf.slice(x, [0, 0, 0, 0], headSize);
  return tf.concat([tail, head], axis);
}

/** Rolls an NHWC batch by `dy` rows and `dx` columns with wrap-around. */
export function roll(images: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  return tf.tidy(() => rollAxis(rollAxis(images, dy, 1), dx, 2));
}

function checkNonNegativeInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${what} must be a non-negative integer, got ${value}.`);
}

/** Jitter: roll by random integer offsets in [-maxShift, maxShift] on H and W. Default maxShift 2 (CIFAR). */
export function jitter(options: { readonly maxShift?: number } = {}): Augmentation {
  const maxShift = options.maxShift ?? 2;
  checkNonNegativeInteger(maxShift, 'jitter: maxShift');
  return {
    name: 'jitter',
    apply(images, random) {
      const dy = random.int(-maxShift, maxShift);
      const dx = random.int(-maxShift, maxShift);
      return roll(images, dy, dx);
    },
  };
}

/** Horizontal flip of the whole batch with probability `probability` (default 0.5). */
export function flip(options: { readonly probability?: number } = {}): Augmentation {
  const probability = options.probability ?? 0.5;
  if (!(probability >= 0 && probability <= 1)) throw new Error(`flip: probability must be in [0, 1], got ${probability}.`);
  return {
    name: 'flip',
    apply(images, random) {
      return random.next() < probability ? tf.reverse(images, 2) : images;
    },
  };
}

/** Applies augmentations in order. `compose()` is the identity. */
export function compose(...augmentations: readonly Augmentation[]): Augmentation {
  return {
    name: augmentations.map((a) => a.name).join('+') || 'identity',
    apply(images, random) {
      return augmentations.reduce((x, augmentation) => augmentation.apply(x, random), images);
    },
  };
}
