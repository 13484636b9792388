import * as tf from '@tensorflow/tfjs-core';

/** Largest absolute entry of a tensor or array. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/**
 * Asserts `actual` equals `expected` elementwise within `tolerance` times the largest absolute
 * entry of `expected` (the parity rule for tensors), and that the shapes agree.
 */
export function expectClose(actual: tf.Tensor, expected: tf.Tensor | ArrayLike<number>, tolerance: number): void {
  const want = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  if (expected instanceof tf.Tensor) expect(actual.shape).toEqual(expected.shape);
  const got = actual.dataSync();
  expect(got.length).toBe(want.length);
  const scale = Math.max(maxAbs(want), 1e-30);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= worst) || Number.isNaN(err)) {
      worst = Number.isNaN(err) ? Infinity : err;
      worstIndex = i;
    }
  }
  if (worst > tolerance * scale) {
    throw new Error(
      `tensors differ: max |error| ${worst} at index ${worstIndex} (got ${got[worstIndex]}, want ${want[worstIndex]}) ` +
        `exceeds ${tolerance} x max|expected| = ${tolerance * scale}`,
    );
  }
}

/** Asserts a scalar is within `tolerance` relative error of `expected`. */
export function expectRelative(actual: number, expected: number, tolerance: number): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-30);
  if (!(err <= tolerance)) {
    throw new Error(`got ${actual}, want ${expected}: relative error ${err} exceeds ${tolerance}`);
  }
}
