import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `fn(x)` so that no gradient flows back into `x` and nothing inside `fn` is recorded on
 * the gradient tape: tfjs has no stop_gradient, but a custom gradient's forward pass runs
 * untaped. The results are constants as far as any enclosing tf.grads is concerned.
 * A custom gradient returns one tensor, so the results travel flattened and concatenated.
 */
export function withoutGradient(x: tf.Tensor, fn: (x: tf.Tensor) => tf.Tensor[]): tf.Tensor[] {
  const shapes: number[][] = [];
  const packed = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const results = fn(input);
    shapes.push(...results.map((r) => r.shape));
    const value = tf.concat(results.map((r) => tf.reshape(r, [-1])));
    return { value, gradFunc: () => [tf.zerosLike(input)] };
  });
  return tf.tidy(() => {
    const flat = packed(x);
    const sizes = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    return tf.split(flat, sizes).map((part, i) => tf.reshape(part, shapes[i]));
  });
}
