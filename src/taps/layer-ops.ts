import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Plain-op evaluation of the layers a classifier spends its time in, always in inference mode.
 *
 * tfjs-layers runs Conv2D and Dense through fused ops whose custom gradients also compute the
 * weight gradients, even when only the image needs one; and a BatchNormalization layer called
 * with `training: true` overwrites its moving statistics. Calling the plain ops avoids both.
 * BatchNormalization and ReLU get input-only gradients of one kernel each (two for ReLU off
 * tfjs-node), where the stock ones cost several full-size kernels per layer. The layers' weights
 * are constants of this evaluation: gradients flow to the input only.
 * Any other layer returns `undefined` here and is run by its own `call`.
 */

interface WeightHolder {
  read(): tf.Tensor;
}

interface ActivationLike {
  apply(x: tf.Tensor): tf.Tensor;
  getClassName(): string;
}

type ConvLayer = tfl.layers.Layer & {
  kernel?: WeightHolder;
  depthwiseKernel?: WeightHolder;
  bias?: WeightHolder | null;
  activation?: ActivationLike;
  strides: number[];
  padding: 'valid' | 'same';
  dilationRate: number | number[];
  dataFormat: string;
};

type BatchNormLayer = tfl.layers.Layer & {
  gamma?: WeightHolder | null;
  beta?: WeightHolder | null;
  movingMean: WeightHolder;
  movingVariance: WeightHolder;
  epsilon: number;
  axis: number;
};

type DenseLayer = tfl.layers.Layer & { kernel: WeightHolder; bias?: WeightHolder | null; activation?: ActivationLike };

type ReluLayer = tfl.layers.Layer & { maxValue?: number | null };

type ActivationLayer = tfl.layers.Layer & { activation: ActivationLike };

type PoolingLayer = tfl.layers.Layer & { dataFormat: string };

/** Epsilon of {@link scaleShift}: a power of two, so 1 - epsilon is exact and sums back to exactly 1. */
const AFFINE_EPSILON = 2 ** -10;

/**
 * x * scale + shift per channel (the last axis), computed by the backend's fused inference
 * BatchNorm kernel with mean 0 and variance 1 - epsilon, so that its rsqrt(variance + epsilon)
 * is 1: one pass where a broadcast multiply and add take two, and tfjs-node's broadcast
 * arithmetic runs at half the speed of its elementwise arithmetic on narrow maps (measured on
 * 4M values with 16 channels: 1.7 ms here, 10.5 ms as multiply + add). For gradient functions:
 * not meant to be differentiated. `shift` defaults to 0.
 */
export function scaleShift(x: tf.Tensor, scale: tf.Tensor, shift?: tf.Tensor): tf.Tensor {
  const channels = x.shape[x.rank - 1];
  return tf.tidy(() => {
    const zeros = tf.zeros([channels]);
    const variance = tf.tensor1d(new Float32Array(channels).fill(1 - AFFINE_EPSILON));
    return tf.batchNorm(x, zeros, variance, shift ?? zeros, scale, AFFINE_EPSILON);
  });
}

/**
 * Sum over every axis but the last (per channel), as a [C] tensor. On tfjs-node a large map is
 * summed as ones[1, n] x map[n, C]: TensorFlow's column reduction slows down past about a
 * million values (measured: 7.0 ms for [64, 32, 32, 64], 2.0 ms as the product; 3.4 against
 * 2.1 ms for [256, 32, 32, 16]), while it stays the faster one on smaller or narrow maps.
 */
export function channelSum(x: tf.Tensor): tf.Tensor1D {
  const channels = x.shape[x.rank - 1];
  const n = x.size / channels;
  const large = x.size >= 2 ** 20 && (channels >= 64 || x.size >= 2 ** 21);
  if (!large || tf.getBackend() !== 'tensorflow')
    return tf.sum(
      x,
      x.shape.slice(0, -1).map((_, i) => i),
    ) as tf.Tensor1D;
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, n]), tf.reshape(x, [n, channels])), [channels]) as tf.Tensor1D);
}

/** Mean over every axis but the last (per channel); see {@link channelSum}. */
export function channelMean(x: tf.Tensor): tf.Tensor1D {
  const channels = x.shape[x.rank - 1];
  return tf.tidy(() => tf.div(channelSum(x), x.size / channels) as tf.Tensor1D);
}

/** The moving statistics a BatchNormalization layer normalizes with (owned by the layer). */
export function movingStatistics(layer: tfl.layers.Layer): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const bn = layer as BatchNormLayer;
  return { mean: bn.movingMean.read() as tf.Tensor1D, variance: bn.movingVariance.read() as tf.Tensor1D };
}

/**
 * max(x, 0) with the gradient dy * [y > 0]: on tfjs-node one native ReluGrad kernel (see
 * {@link reluMask}); elsewhere dy * sign(y), sign of the output being exactly that 0/1 mask.
 * tfjs' own gradient builds the mask with Step, which tfjs-node runs as six kernels (isNaN,
 * greater, ones, fill and two selects).
 */
const reluWithMaskGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const y = tf.relu(x);
  save([y]);
  return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => reluMask(dy, saved[0]) };
}) as (x: tf.Tensor) => tf.Tensor;

/** ReLU as natinv evaluates it (input gradient of one or two kernels). */
export function relu(x: tf.Tensor): tf.Tensor {
  return reluWithMaskGradient(x);
}

/** Kernel natinv registers for the tensorflow backend: TensorFlow's ReluGrad(dy, y). */
const NATIVE_RELU_GRAD = 'NatinvReluGrad';

/** What natinv uses of tfjs-node's backend to run a TensorFlow op by name. */
interface NativeBackend {
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.TensorInfo[]): tf.TensorInfo;
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
}

function isNativeBackend(backend: unknown): backend is NativeBackend {
  const b = backend as Partial<NativeBackend> | null;
  return typeof b?.executeSingleOutput === 'function' && b.binding?.TF_ATTR_TYPE != null && b.binding?.TF_FLOAT != null;
}

let nativeReluGrad: boolean | undefined;

/** Registers NatinvReluGrad once, when the active backend can run TensorFlow ops by name. */
function nativeReluGradAvailable(): boolean {
  if (tf.getBackend() !== 'tensorflow') return false;
  if (nativeReluGrad == null) {
    nativeReluGrad = isNativeBackend(tf.backend());
    if (nativeReluGrad && tf.getKernel(NATIVE_RELU_GRAD, 'tensorflow') == null) {
      tf.registerKernel({
        kernelName: NATIVE_RELU_GRAD,
        backendName: 'tensorflow',
        kernelFunc: ({ inputs, backend }) => {
          const native = backend as unknown as NativeBackend;
          const type = { name: 'T', type: native.binding.TF_ATTR_TYPE, value: native.binding.TF_FLOAT };
          return native.executeSingleOutput('ReluGrad', [type], [inputs.dy as tf.TensorInfo, inputs.y as tf.TensorInfo]);
        },
      });
    }
  }
  return nativeReluGrad;
}

/** dy where y > 0, else 0 (float32). */
function reluMask(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (dy.dtype === 'float32' && y.dtype === 'float32' && nativeReluGradAvailable()) {
    return tf.engine().runKernel(NATIVE_RELU_GRAD, { dy, y }) as tf.Tensor;
  }
  return tf.mul(dy, tf.sign(y));
}

function activate(layer: { activation?: ActivationLike }, y: tf.Tensor): tf.Tensor {
  const activation = layer.activation;
  if (activation == null) return y;
  switch (activation.getClassName()) {
    case 'linear':
      return y;
    case 'relu':
      return relu(y);
    default:
      return activation.apply(y);
  }
}

function addBias(y: tf.Tensor, bias: WeightHolder | null | undefined): tf.Tensor {
  return bias == null ? y : tf.add(y, bias.read());
}

function dilations(rate: number | number[]): [number, number] {
  return Array.isArray(rate) ? [rate[0], rate[1] ?? rate[0]] : [rate, rate];
}

function conv2d(layer: ConvLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (layer.dataFormat !== 'channelsLast' || layer.kernel == null) return undefined;
  const y = tf.conv2d(
    x as tf.Tensor4D,
    layer.kernel.read() as tf.Tensor4D,
    [layer.strides[0], layer.strides[1]],
    layer.padding,
    'NHWC',
    dilations(layer.dilationRate),
  );
  return activate(layer, addBias(y, layer.bias));
}

function depthwiseConv2d(layer: ConvLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (layer.dataFormat !== 'channelsLast' || layer.depthwiseKernel == null) return undefined;
  const kernel = layer.depthwiseKernel.read() as tf.Tensor4D;
  const strides: [number, number] = [layer.strides[0], layer.strides[1]];
  const rate = dilations(layer.dilationRate);
  const y =
    needsDepthwiseInputGradient() && kernel.shape[3] === 1 && rate[0] === 1 && rate[1] === 1
      ? depthwiseWithForwardGradient(x as tf.Tensor4D, kernel, strides, layer.padding)
      : tf.depthwiseConv2d(x as tf.Tensor4D, kernel, strides, layer.padding, 'NHWC', rate);
  return activate(layer, addBias(y, layer.bias));
}

/** True on backends without a DepthwiseConv2dNativeBackpropInput kernel (wasm in tfjs 4.22). */
function needsDepthwiseInputGradient(): boolean {
  return tf.getKernel('DepthwiseConv2dNativeBackpropInput', tf.getBackend()) == null;
}

/**
 * tf.depthwiseConv2d (channel multiplier 1, no dilation) whose input gradient is itself a
 * depthwise convolution: dy spread out by the stride (zeros between entries), padded so that
 * every input position sees the kernel window that read it, then correlated with the kernel
 * rotated 180 degrees. Exact; for backends that lack the gradient kernel.
 */
function depthwiseWithForwardGradient(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  strides: [number, number],
  padding: 'valid' | 'same',
): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(x.shape, kernel.shape, strides, 1, padding, undefined, true);
  const [b, h, w, c] = x.shape;
  const { outHeight, outWidth, filterHeight, filterWidth, padInfo } = info;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    return {
      value: tf.depthwiseConv2d(input, kernel, strides, padding),
      gradFunc: (dy: tf.Tensor) => {
        const [sh, sw] = strides;
        // dy at positions o * stride of a zero map [oh * sh, ow * sw].
        let spread = tf.reshape(dy, [b, outHeight, 1, outWidth, 1, c]);
        if (sh > 1 || sw > 1)
          spread = tf.pad(spread, [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ]);
        let map = tf.reshape(spread, [b, outHeight * sh, outWidth * sw, c]) as tf.Tensor4D;
        // dx[j] = sum_t map[j + top - (k - 1) + t] * flipped[t]: pad (or crop) to h + k - 1 rows.
        const fit = (t: tf.Tensor4D, axis: 1 | 2, before: number, length: number): tf.Tensor4D => {
          const size = t.shape[axis];
          const after = length - size - before;
          const pads: Array<[number, number]> = [
            [0, 0],
            [0, 0],
            [0, 0],
            [0, 0],
          ];
          pads[axis] = [Math.max(before, 0), Math.max(after, 0)];
          let out = pads[axis][0] > 0 || pads[axis][1] > 0 ? (tf.pad(t, pads) as tf.Tensor4D) : t;
          if (before < 0 || after < 0) {
            const begin = [0, 0, 0, 0];
            const sizes = [...out.shape];
            begin[axis] = Math.max(-before, 0);
            sizes[axis] = length;
            out = tf.slice(out, begin, sizes);
          }
          return out;
        };
        map = fit(map, 1, filterHeight - 1 - padInfo.top, h + filterHeight - 1);
        map = fit(map, 2, filterWidth - 1 - padInfo.left, w + filterWidth - 1);
        return tf.depthwiseConv2d(map, tf.reverse(kernel, [0, 1]) as tf.Tensor4D, 1, 'valid');
      },
    };
  });
  return (op as (input: tf.Tensor4D) => tf.Tensor4D)(x);
}

function dense(layer: DenseLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (x.rank !== 2) return undefined;
  return activate(layer, addBias(tf.matMul(x, layer.kernel.read()), layer.bias));
}

/**
 * Inference-mode BatchNorm: the backend's fused kernel forward; the input gradient is
 * dy * gamma / sqrt(movingVariance + epsilon), one per-channel scale. (tfjs' stock gradient
 * first materializes x - mean, dy * gamma and a full-size tile of the scale, whatever is asked.)
 */
function batchNorm(layer: BatchNormLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (layer.axis !== -1 && layer.axis !== x.rank - 1) return undefined;
  const mean = layer.movingMean.read();
  const variance = layer.movingVariance.read();
  const gamma = layer.gamma?.read();
  const beta = layer.beta?.read();
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return {
      value: tf.batchNorm(input, mean, variance, beta, gamma, layer.epsilon),
      gradFunc: (dy: tf.Tensor) => {
        const inverseStd = tf.rsqrt(tf.add(variance, layer.epsilon));
        return scaleShift(dy, gamma == null ? inverseStd : tf.mul(inverseStd, gamma));
      },
    };
  });
  return op(x);
}

function reluLayer(layer: ReluLayer, x: tf.Tensor): tf.Tensor | undefined {
  return layer.maxValue == null ? relu(x) : undefined;
}

function activationLayer(layer: ActivationLayer, x: tf.Tensor): tf.Tensor | undefined {
  const name = layer.activation.getClassName();
  return name === 'linear' || name === 'relu' ? activate(layer, x) : undefined;
}

function globalAveragePooling2d(layer: PoolingLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (layer.dataFormat !== 'channelsLast' || x.rank !== 4) return undefined;
  return tf.mean(x, [1, 2]);
}

/** Evaluates `layer` on one input with plain ops, or returns undefined when it has no plain path. */
export function callPlain(layer: tfl.layers.Layer, x: tf.Tensor): tf.Tensor | undefined {
  switch (layer.getClassName()) {
    case 'Conv2D':
      return conv2d(layer as ConvLayer, x);
    case 'DepthwiseConv2D':
      return depthwiseConv2d(layer as ConvLayer, x);
    case 'Dense':
      return dense(layer as DenseLayer, x);
    case 'BatchNormalization':
      return batchNorm(layer as BatchNormLayer, x);
    case 'ReLU':
      return reluLayer(layer, x);
    case 'Activation':
      return activationLayer(layer as ActivationLayer, x);
    case 'GlobalAveragePooling2D':
      return globalAveragePooling2d(layer as PoolingLayer, x);
    default:
      return undefined;
  }
}

/** Evaluates a layer with several inputs with plain ops (the residual Add), or returns undefined. */
export function callPlainMany(layer: tfl.layers.Layer, xs: readonly tf.Tensor[]): tf.Tensor | undefined {
  if (layer.getClassName() !== 'Add' || xs.some((x) => x.shape.join() !== xs[0].shape.join())) return undefined;
  return xs.length === 2 ? tf.add(xs[0], xs[1]) : tf.addN([...xs]);
}

export function isBatchNorm(layer: tfl.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}
