import * as tf from '@tensorflow/tfjs-core';
import { batchNormBatchStats, conv2d, conv2dForwardGradients, stopGradient, upsampleNearest } from '../src/sources/ops';
import { expectClose } from './helpers/compare';

function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  // A fixed random cotangent exercises every output entry differently.
  return tf.grads((...ins: tf.Tensor[]) => tf.sum(tf.mul(f(...ins), dy)))(xs);
}

describe('sources ops', () => {
  test.each([
    [3, [2, 5, 6, 3], 4],
    [1, [3, 4, 4, 5], 2],
  ])('conv2d (k=%i) matches tf.conv2d with symmetric padding, values and gradients', (k, shape, outC) => {
    const x = tf.randomNormal(shape as [number, number, number, number], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, shape[3], outC], 0, 1, 'float32', 2) as tf.Tensor4D;
    const b = tf.randomNormal([outC], 0, 1, 'float32', 3);
    const stock = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      tf.add(
        tf.conv2d(
          tf.pad(xi as tf.Tensor4D, [
            [0, 0],
            [(k - 1) / 2, (k - 1) / 2],
            [(k - 1) / 2, (k - 1) / 2],
            [0, 0],
          ]),
          wi as tf.Tensor4D,
          1,
          'valid',
        ),
        bi,
      );
    const ours = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => conv2d(xi as tf.Tensor4D, wi, bi);
    const forwardOnly = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      tf.add(conv2dForwardGradients(xi as tf.Tensor4D, wi as tf.Tensor4D), bi);
    const want = stock(x, w, b);
    const dy = tf.randomNormal(want.shape, 0, 1, 'float32', 4);
    // Stock gradients for x and b; the kernel gradient written out as im2col sums, since wasm
    // has no Conv2DBackpropFilter kernel to compare with.
    const [dxWant, dbWant] = gradsOf((xi, bi) => stock(xi, w, bi), [x, b], dy);
    const p = (k - 1) / 2;
    const [n, h, wd, c] = shape;
    const xpad = tf.pad(x, [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ]);
    const dy2 = tf.reshape(dy, [n * h * wd, outC]);
    const dwWant = tf.reshape(
      tf.stack(
        Array.from({ length: k * k }, (_, ij) => {
          const patch = tf.reshape(tf.slice(xpad, [0, Math.floor(ij / k), ij % k, 0], [n, h, wd, c]), [n * h * wd, c]);
          return tf.matMul(patch, dy2, true, false);
        }),
      ),
      [k, k, c, outC],
    );
    for (const f of [ours, forwardOnly]) {
      expectClose(f(x, w, b), want, 1e-6);
      const [dx, dw, db] = gradsOf(f, [x, w, b], dy);
      expectClose(dx, dxWant, 1e-5);
      expectClose(dw, dwWant, 1e-5);
      expectClose(db, dbWant, 1e-5);
    }
    expect(() => conv2d(x, tf.zeros([2, 2, shape[3], outC]), b)).toThrow(/square odd kernel, got 2x2/);
  });

  test('batchNormBatchStats equals training-mode BN (biased variance), values and gradients', () => {
    const x = tf.add(tf.mul(tf.randomNormal([3, 4, 5, 6], 0, 1, 'float32', 5), 3), 2) as tf.Tensor4D;
    const gamma = tf.randomNormal([6], 1, 0.5, 'float32', 6);
    const beta = tf.randomNormal([6], 0, 1, 'float32', 7);
    const stock = (xi: tf.Tensor, g: tf.Tensor, bt: tf.Tensor) => {
      const mean = tf.mean(xi, [0, 1, 2]);
      const variance = tf.mean(tf.square(tf.sub(xi, mean)), [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(xi, mean), tf.sqrt(tf.add(variance, 1e-5))), g), bt);
    };
    const ours = (xi: tf.Tensor, g: tf.Tensor, bt: tf.Tensor) => batchNormBatchStats(xi as tf.Tensor4D, g, bt, 1e-5);
    expectClose(ours(x, gamma, beta), stock(x, gamma, beta), 1e-5);
    const dy = tf.randomNormal(x.shape, 0, 1, 'float32', 8);
    const want = gradsOf(stock, [x, gamma, beta], dy);
    gradsOf(ours, [x, gamma, beta], dy).forEach((g, i) => expectClose(g, want[i], 1e-4));
  });

  test.each([
    [2, 2],
    [4, 4],
    [3, 3],
    [2, 3],
  ])('upsampleNearest x%i,x%i reads input floor(i / f) and sums gradients over each block', (fh, fw) => {
    const [b, h, w, c] = [2, 3, 4, 2];
    const x = tf.randomNormal([b, h, w, c], 0, 1, 'float32', 9) as tf.Tensor4D;
    const y = upsampleNearest(x, fh, fw);
    expect(y.shape).toEqual([b, h * fh, w * fw, c]);
    const xa = x.arraySync();
    const ya = y.arraySync();
    for (let n = 0; n < b; n++)
      for (let i = 0; i < h * fh; i++)
        for (let j = 0; j < w * fw; j++) expect(ya[n][i][j]).toEqual(xa[n][Math.floor(i / fh)][Math.floor(j / fw)]);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 10);
    const [dx] = gradsOf((xi) => upsampleNearest(xi as tf.Tensor4D, fh, fw), [x], dy);
    const blockSums = tf.sum(tf.reshape(dy, [b, h, fh, w, fw, c]), [2, 4]);
    expectClose(dx, blockSums, 1e-6);
    expect(() => upsampleNearest(x, 1.5, 2)).toThrow(/positive integers/);
  });

  test('stopGradient passes values and blocks gradients', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const [g] = tf.grads((xi: tf.Tensor) => tf.sum(tf.add(tf.mul(stopGradient(xi), xi), 0)))([x]);
    // d/dx (sg(x) * x) = sg(x) = x.
    expect(Array.from(g.dataSync())).toEqual([1, 2, 3]);
  });
});
