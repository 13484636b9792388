import * as tf from '@tensorflow/tfjs-core';
import { Augmentation, compose, flip, jitter, Random, roll } from '../src/node';

function grid(h: number, w: number): tf.Tensor4D {
  return tf.reshape(tf.range(0, h * w, 1, 'float32'), [1, h, w, 1]) as tf.Tensor4D;
}

describe('augment', () => {
  test('roll wraps around like torch.roll', () => {
    const x = grid(3, 4); // rows [0 1 2 3] [4 5 6 7] [8 9 10 11]
    expect(Array.from(roll(x, 0, 1).dataSync())).toEqual([3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10]);
    expect(Array.from(roll(x, -1, 0).dataSync())).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3]);
    expect(Array.from(roll(x, 4, -5).dataSync())).toEqual(Array.from(roll(x, 1, -1).dataSync()));
  });

  test('roll has a gradient (the inverse roll)', () => {
    const x = grid(3, 4);
    const weights = tf.reshape(tf.range(1, 13, 1, 'float32'), [1, 3, 4, 1]);
    const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(roll(input as tf.Tensor4D, 1, 2), weights)))(x);
    expect(Array.from(g.dataSync())).toEqual(Array.from(roll(weights as tf.Tensor4D, -1, -2).dataSync()));
  });

  test('jitter draws offsets in [-maxShift, maxShift] and replays under a seed', () => {
    const x = grid(8, 8);
    const seen = new Set<string>();
    const random = new Random(11);
    for (let i = 0; i < 200; i++) seen.add(Array.from(jitter().apply(x, random).dataSync().slice(0, 2)).join(','));
    expect(seen.size).toBe(25); // 5 x 5 offsets, each seen
    const a = jitter().apply(x, new Random(5)).dataSync();
    const b = jitter().apply(x, new Random(5)).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  test('flip mirrors the width axis about half the time', () => {
    const x = grid(2, 3);
    const random = new Random(3);
    let flipped = 0;
    for (let i = 0; i < 400; i++) if (flip().apply(x, random) !== x) flipped++;
    expect(flipped).toBeGreaterThan(160);
    expect(flipped).toBeLessThan(240);
    expect(Array.from(flip({ probability: 1 }).apply(x, random).dataSync())).toEqual([2, 1, 0, 5, 4, 3]);
    expect(flip({ probability: 0 }).apply(x, random)).toBe(x);
  });

  test('compose applies in order, sharing one random stream', () => {
    const double: Augmentation = { name: 'double', apply: (x) => tf.mul(x, 2) as tf.Tensor4D };
    const addOne: Augmentation = { name: 'addOne', apply: (x) => tf.add(x, 1) as tf.Tensor4D };
    const x = grid(1, 3); // [0 1 2]
    expect(Array.from(compose(double, addOne).apply(x, new Random(0)).dataSync())).toEqual([1, 3, 5]);
    expect(Array.from(compose(addOne, double).apply(x, new Random(0)).dataSync())).toEqual([2, 4, 6]);
    // Jitter then flip equals the two applied by hand in that order, with the same draws.
    const y = grid(5, 5);
    const composed = compose(jitter(), flip({ probability: 1 })).apply(y, new Random(9));
    const random = new Random(9);
    const byHand = flip({ probability: 1 }).apply(jitter().apply(y, random), random);
    expect(Array.from(composed.dataSync())).toEqual(Array.from(byHand.dataSync()));
    expect(Array.from(composed.dataSync())).not.toEqual(Array.from(y.dataSync()));
    expect(compose(jitter(), flip()).name).toBe('jitter+flip');
    expect(compose().apply(y, random)).toBe(y);
  });

  test('bad options are refused', () => {
    expect(() => jitter({ maxShift: -1 })).toThrow('jitter: maxShift must be a non-negative integer, got -1.');
    expect(() => flip({ probability: 2 })).toThrow('flip: probability must be in [0, 1], got 2.');
  });
});
