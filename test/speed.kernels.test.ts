import * as tf from '@tensorflow/tfjs-core';
import { channelMean, channelSum, relu, scaleShift } from '../src/taps/layer-ops';
import { upsampleNearest } from '../src/sources/ops';
import { expectClose } from './helpers/compare';

// The faster formulations natinv uses inside its gradients compute what the stock ops compute,
// on the active backend (NATINV_BACKEND), including the sizes where a backend takes another path
// (tfjs-node sums maps of a million values or more as a matrix product).

function gradOf(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), dy)))(x);
}

describe('fast paths equal the stock ops', () => {
  test.each([[[2, 4, 4, 3]], [[16, 32, 32, 64]], [[256, 16, 16, 32]]])('channelSum and channelMean of %j', (shape) => {
    tf.tidy(() => {
      const x = tf.randomNormal(shape, 0.5, 2, 'float32', 1);
      expectClose(channelSum(x), tf.sum(x, [0, 1, 2]), 1e-5);
      expectClose(channelMean(x), tf.mean(x, [0, 1, 2]), 1e-5);
    });
  });

  test('scaleShift is x * scale + shift per channel', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([3, 5, 4, 16], 0, 3, 'float32', 2);
      const scale = tf.randomNormal([16], 0, 2, 'float32', 3);
      const shift = tf.randomNormal([16], 0, 2, 'float32', 4);
      expectClose(scaleShift(x, scale, shift), tf.add(tf.mul(x, scale), shift), 1e-6);
      expectClose(scaleShift(x, scale), tf.mul(x, scale), 1e-6);
    });
  });

  test('relu and its gradient, zeros included', () => {
    tf.tidy(() => {
      const x = tf.concat([tf.randomNormal([200], 0, 1, 'float32', 5), tf.zeros([8])]);
      const dy = tf.randomNormal([208], 0, 1, 'float32', 6);
      expectClose(relu(x), tf.relu(x), 0);
      expectClose(gradOf(relu, x, dy), gradOf(tf.relu, x, dy), 0);
    });
  });

  test('upsampleNearest gradient (average pool x f^2) equals the sum over each block', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 6, 15, 4], 0, 1, 'float32', 8);
      const blockSums = tf.sum(tf.reshape(dy, [2, 3, 2, 5, 3, 4]), [2, 4]);
      expectClose(
        gradOf((input) => upsampleNearest(input as tf.Tensor4D, 2, 3), x, dy),
        blockSums,
        1e-6,
      );
    });
  });
});
