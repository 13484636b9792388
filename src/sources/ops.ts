import * as tf from '@tensorflow/tfjs-core';
import { channelMean, channelSum, scaleShift } from '../taps/layer-ops';

/**
 * Functional building blocks with PyTorch semantics, shared by the generator and the FTP.
 * Functional ops only (tf.add(a, b)): chained ops are not registered with tfjs-core alone.
 */

/**
 * Stride-1 convolution with a square odd kernel (HWIO) and PyTorch's symmetric zero padding
 * (k-1)/2 on every side, plus bias. For stride 1 and an odd kernel, tfjs 'same' pads exactly that
 * (k-1 in total, split evenly); it is also the one padding every backend's gradient kernels accept
 * (tfjs-node rejects numeric and explicit padding in Conv2DBackpropInput).
 */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor4D {
  const [kh, kw] = kernel.shape;
  if (kh !== kw || kh % 2 !== 1) {
    throw new Error(`conv2d: expected a square odd kernel, got ${kh}x${kw}.`);
  }
  const conv = FORWARD_FILTER_GRADIENT.has(tf.getBackend())
    ? conv2dForwardGradients(x, kernel as tf.Tensor4D)
    : tf.conv2d(x, kernel as tf.Tensor4D, 1, 'same');
  return addBias(conv, bias);
}

/** x + bias per channel, whose bias gradient is {@link channelSum} (fast on large maps). */
function addBias(x: tf.Tensor4D, bias: tf.Tensor): tf.Tensor4D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, b] = args as [tf.Tensor4D, tf.Tensor];
    return { value: tf.add(input, b), gradFunc: (dy: tf.Tensor) => [tf.clone(dy), channelSum(dy)] };
  });
  return op(x, bias) as tf.Tensor4D;
}

/**
 * Backends whose kernel gradient is unusable for training a generator: wasm has no
 * Conv2DBackpropFilter kernel at all, and the cpu backend's is a per-element TensorBuffer.get loop
 * (minutes for one NaturalInversion step). On these, both gradients are expressed as forward
 * convolutions. tensorflow and webgl keep their native kernels.
 */
const FORWARD_FILTER_GRADIENT = new Set(['cpu', 'wasm']);

/**
 * tf.conv2d (stride 1, 'same', square odd kernel) whose gradients are themselves forward
 * convolutions: dx = conv(dy, kernel rotated 180 degrees with in/out swapped, 'same');
 * dW[i,j,c,o] = sum_{b,y,x} xpad[b,y+i,x+j,c] dy[b,y,x,o], i.e. a convolution of x viewed as
 * [C, H, W, B] with dy viewed as a [H, W, B, O] filter and (k-1)/2 explicit padding, giving
 * [C, k, k, O]. Used on cpu and wasm, which both accept explicit padding.
 */
export function conv2dForwardGradients(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
  const pad = (kernel.shape[0] - 1) / 2;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, filter, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([input, filter]);
    return {
      value: tf.conv2d(input, filter, 1, 'same'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, w] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dy4 = dy as tf.Tensor4D;
        const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
        const dx = tf.conv2d(dy4, flipped, 1, 'same');
        const xView = tf.transpose(xs, [3, 1, 2, 0]) as tf.Tensor4D;
        const dyView = tf.transpose(dy4, [1, 2, 0, 3]) as tf.Tensor4D;
        const padding =
          pad === 0
            ? 'valid'
            : ([
                [0, 0],
                [pad, pad],
                [pad, pad],
                [0, 0],
              ] as [[0, 0], [number, number], [number, number], [0, 0]]);
        const dw = tf.transpose(tf.conv2d(xView, dyView, 1, padding), [1, 2, 0, 3]);
        return [dx, dw];
      },
    };
  });
  return op(x, kernel);
}

/**
 * BatchNorm over N,H,W with the batch's own mean and biased variance (training mode), as one
 * custom-gradient op. Forward: mean, squared difference, mean, then the backend's fused
 * inference kernel with those statistics (one full-size write where a hand-written normalization
 * takes four). Backward, with xhat = (x - mean) * rstd recomputed by the same fused kernel:
 * dx = gamma * rstd / n * (n * dy - sum(dy) - xhat * sum(dy * xhat)), as a per-channel scale
 * of dy minus a fused-kernel affine of x; where the chain through tf.moments and tf.batchNorm's
 * stock gradient costs several full-size tiles and reductions.
 */
export function batchNormBatchStats(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor4D {
  const n = x.size / x.shape[3];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, scale, offset, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const mean = channelMean(input);
    const variance = channelMean(tf.squaredDifference(input, mean));
    save([input, mean, variance, scale]);
    return {
      value: tf.batchNorm(input, mean, variance, offset, scale, epsilon),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, m, v, g] = saved;
        const xhat = tf.batchNorm(xs, m, v, undefined, undefined, epsilon);
        const dBeta = channelSum(dy);
        const dGamma = channelSum(tf.mul(dy, xhat));
        const k = tf.mul(g, tf.rsqrt(tf.add(v, epsilon)));
        // dx = k dy - ((k dGamma / n) xhat + k dBeta / n); the bracket is the fused kernel on x.
        const correction = tf.batchNorm(xs, m, v, tf.div(tf.mul(k, dBeta), n), tf.div(tf.mul(k, dGamma), n), epsilon);
        return [tf.sub(scaleShift(dy, k), correction), dGamma, dBeta];
      },
    };
  });
  return op(x, gamma, beta);
}

/**
 * Nearest-neighbour upsampling by integer factors, equal to PyTorch's
 * F.interpolate(mode='nearest') for integer scales: output pixel i reads input floor(i / f).
 * Repeats with a tile (exact for any factor, on any backend); the gradient sums each f x f
 * block, as an average pool times f^2: a reshape-and-sum over the two block axes is ten times
 * slower on tfjs-node. tf.image.resizeNearestNeighbor is not used: its cpu gradient kernel reads
 * dy at the wrong offset for every image after the first (tfjs 4.22).
 */
export function upsampleNearest(x: tf.Tensor4D, factorH: number, factorW: number): tf.Tensor4D {
  if (!Number.isInteger(factorH) || !Number.isInteger(factorW) || factorH < 1 || factorW < 1) {
    throw new Error(`upsampleNearest: factors must be positive integers, got ${factorH} x ${factorW}.`);
  }
  if (factorH === 1 && factorW === 1) return x;
  const [b, h, w, c] = x.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    const repeated = tf.tile(tf.reshape(input, [b, h, 1, w, 1, c]), [1, 1, factorH, 1, factorW, 1]);
    return {
      value: tf.reshape(repeated, [b, h * factorH, w * factorW, c]),
      gradFunc: (dy: tf.Tensor) =>
        tf.mul(tf.avgPool(dy as tf.Tensor4D, [factorH, factorW], [factorH, factorW], 'valid'), factorH * factorW),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * Identity whose gradient is zero: tfjs has no tf.stopGradient. Inputs computed "without
 * gradient" (the teacher's feature taps) pass through it so no gradient can leak into them, even
 * if a caller computed them on the tape.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.clone(inputs[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return f(x) as T;
}
