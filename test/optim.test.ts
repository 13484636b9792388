import * as tf from '@tensorflow/tfjs-core';
import { adam, cosineWithWarmup, sgd } from '../src/node';

describe('optimizers (PyTorch update rules)', () => {
  test('adam: two steps match the hand-computed PyTorch update', () => {
    const v = tf.variable(tf.tensor1d([1, -2]), true, 'adam_test_v');
    const opt = adam([v], { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
    const g1 = tf.tensor1d([0.5, -1]);
    const g2 = tf.tensor1d([0.1, 0.3]);
    opt.step({ [v.name]: g1 }, 0.1);
    opt.step({ [v.name]: g2 }, 0.1);
    // PyTorch: m = b1 m + (1-b1) g; s = b2 s + (1-b2) g^2; p -= lr (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)
    const expected = [1, -2].map((p0, i) => {
      const gs = [[0.5, -1][i], [0.1, 0.3][i]];
      let p = p0;
      let m = 0;
      let s = 0;
      gs.forEach((g, k) => {
        const t = k + 1;
        m = 0.9 * m + 0.1 * g;
        s = 0.999 * s + 0.001 * g * g;
        p -= (0.1 * (m / (1 - 0.9 ** t))) / (Math.sqrt(s / (1 - 0.999 ** t)) + 1e-8);
      });
      return p;
    });
    const got = Array.from(v.dataSync());
    got.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 5));
    opt.dispose();
    tf.dispose([v, g1, g2]);
  });

  test('sgd with momentum and weight decay follows PyTorch (dampening 0)', () => {
    const v = tf.variable(tf.tensor1d([1]), true, 'sgd_test_v');
    const opt = sgd([v], { momentum: 0.9, weightDecay: 0.1 });
    const g = tf.tensor1d([0.5]);
    opt.step({ [v.name]: g }, 0.1); // d = 0.5 + 0.1 = 0.6; buf = 0.6; p = 1 - 0.06 = 0.94
    opt.step({ [v.name]: g }, 0.1); // d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; p = 0.94 - 0.1134
    expect(v.dataSync()[0]).toBeCloseTo(0.8266, 5);
    opt.dispose();
    tf.dispose([v, g]);
  });

  test('cosine with warm-up: linear ramp, then half a cosine to zero', () => {
    const schedule = cosineWithWarmup(0.2, { warmupSteps: 10 });
    expect(schedule(0, 110)).toBeCloseTo(0.02);
    expect(schedule(9, 110)).toBeCloseTo(0.2);
    expect(schedule(10, 110)).toBeCloseTo(0.2);
    expect(schedule(60, 110)).toBeCloseTo(0.1);
    expect(schedule(110, 110)).toBeCloseTo(0);
  });
});
