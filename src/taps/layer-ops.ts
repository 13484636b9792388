import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Plain-op evaluation of the layers a classifier spends its time in, always in inference mode.
 *
 * tfjs-layers runs Conv2D and Dense through fused ops whose custom gradients also compute the
 * weight gradients, even when only the image needs one; and a BatchNormalization layer called
 * with `training: true` overwrites its moving statistics. Calling the plain ops avoids both.
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

/** The moving statistics a BatchNormalization layer normalizes with (owned by the layer). */
export function movingStatistics(layer: tfl.layers.Layer): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const bn = layer as BatchNormLayer;
  return { mean: bn.movingMean.read() as tf.Tensor1D, variance: bn.movingVariance.read() as tf.Tensor1D };
}

function activate(layer: { activation?: ActivationLike }, y: tf.Tensor): tf.Tensor {
  const activation = layer.activation;
  if (activation == null || activation.getClassName() === 'linear') return y;
  return activation.apply(y);
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
  const y = tf.depthwiseConv2d(
    x as tf.Tensor4D,
    layer.depthwiseKernel.read() as tf.Tensor4D,
    [layer.strides[0], layer.strides[1]],
    layer.padding,
    'NHWC',
    dilations(layer.dilationRate),
  );
  return activate(layer, addBias(y, layer.bias));
}

function dense(layer: DenseLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (x.rank !== 2) return undefined;
  return activate(layer, addBias(tf.matMul(x as tf.Tensor2D, layer.kernel.read() as tf.Tensor2D), layer.bias));
}

function batchNorm(layer: BatchNormLayer, x: tf.Tensor): tf.Tensor | undefined {
  if (layer.axis !== -1 && layer.axis !== x.rank - 1) return undefined;
  return tf.batchNorm(
    x,
    layer.movingMean.read(),
    layer.movingVariance.read(),
    layer.beta?.read(),
    layer.gamma?.read(),
    layer.epsilon,
  );
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
    default:
      return undefined;
  }
}

export function isBatchNorm(layer: tfl.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}
