import * as tf from '@tensorflow/tfjs-core';
import { kaimingNormalStd, normal, pytorchDefaultBound, uniform } from './init';
import { batchNormBatchStats, conv2d, upsampleNearest } from './ops';
import { LoadPytorchOptions, ParameterSet } from './parameters';

/** Options of {@link conditionalGenerator}. */
export interface ConditionalGeneratorOptions {
  /** Length of the latent vector z. Default 1024 (NaturalInversion CIFAR). */
  latentSize?: number;
  /** Number of classes: the one-hot label appended to z has this width. Required. */
  numClasses: number;
  /** Channels after the Linear layer and the first conv; the second conv has half. Default 128. */
  baseWidth?: number;
  /** Height and width of the generated image. Default 32; must equal 4 x initSize. */
  outputSize?: number;
  /** Channels of the generated image. Default 3. */
  outputChannels?: number;
  /** Spatial size after the Linear layer. Default outputSize / 4 (8 for 32). */
  initSize?: number;
  /** Seed of the initialization. Required: a generator built from the same seed is identical. */
  seed: number;
}

/** {@link ConditionalGeneratorOptions} with every default filled in (plain data, for manifests). */
export type ResolvedGeneratorOptions = Required<ConditionalGeneratorOptions>;

/**
 * NaturalInversion's conditional generator, built from plain tfjs ops and named variables so a
 * fresh one per batch is cheap. Parameters carry PyTorch names (`l1.weight`, `bn0.weight`, ...,
 * `conv3.bias`) and are stored in tfjs layouts (Linear [in, out], conv HWIO).
 */
export interface ConditionalGenerator {
  readonly options: ResolvedGeneratorOptions;
  /** Width of the generator input: latentSize + numClasses. */
  readonly inputSize: number;
  /** Trainable parameters by PyTorch name. */
  readonly parameters: Readonly<Record<string, tf.Variable>>;
  /** z concatenated with one-hot labels, [B, latentSize + numClasses] -> images [B, S, S, C]. */
  forward(zWithOneHot: tf.Tensor2D): tf.Tensor4D;
  /** Sets parameters from a PyTorch state dict (running statistics are skipped). */
  loadPytorchParameters(record: Readonly<Record<string, tf.Tensor>>, options?: LoadPytorchOptions): void;
  /** Re-expresses parameter-shaped tensors (gradients) in PyTorch layout; see ParameterSet.toPytorch. */
  toPytorchLayout(tensors: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor>;
  dispose(): void;
}

const BN_EPSILON = 1e-5;
const LEAKY_SLOPE = 0.2;

function positiveInteger(value: number, what: string, hint: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`conditionalGenerator: ${what} must be a positive integer, got ${value}. ${hint}`);
  }
}

/** Fills defaults and validates; throws an error naming the bad option. */
export function resolveGeneratorOptions(options: ConditionalGeneratorOptions): ResolvedGeneratorOptions {
  if (options == null || typeof options !== 'object') {
    throw new Error('conditionalGenerator: pass an options object, e.g. { numClasses: 10, seed: 0 }.');
  }
  const latentSize = options.latentSize ?? 1024;
  const baseWidth = options.baseWidth ?? 128;
  const outputSize = options.outputSize ?? 32;
  const outputChannels = options.outputChannels ?? 3;
  positiveInteger(options.numClasses, 'numClasses', 'Pass the number of classes of the teacher.');
  positiveInteger(latentSize, 'latentSize', 'The default is 1024.');
  positiveInteger(baseWidth, 'baseWidth', 'The default is 128.');
  if (baseWidth % 2 !== 0) {
    throw new Error(`conditionalGenerator: baseWidth must be even (the second conv has baseWidth / 2 channels), got ${baseWidth}.`);
  }
  positiveInteger(outputSize, 'outputSize', 'The default is 32.');
  positiveInteger(outputChannels, 'outputChannels', 'The default is 3.');
  const initSize = options.initSize ?? outputSize / 4;
  if (!Number.isInteger(initSize) || initSize < 1 || initSize * 4 !== outputSize) {
    throw new Error(
      `conditionalGenerator: outputSize must be 4 x initSize (two x2 upsamplings), got outputSize ${outputSize}` +
        (options.initSize != null ? ` and initSize ${options.initSize}` : '') +
        `. Use an outputSize divisible by 4, e.g. 32 (initSize 8) or 64 (initSize 16).`,
    );
  }
  if (!Number.isInteger(options.seed)) {
    throw new Error(`conditionalGenerator: seed must be an integer, got ${options.seed}.`);
  }
  return { latentSize, numClasses: options.numClasses, baseWidth, outputSize, outputChannels, initSize, seed: options.seed };
}

/**
 * Builds NaturalInversion's CIFAR generator: Linear -> baseWidth x initSize^2 (PyTorch C,H,W
 * order) -> BN -> LReLU(0.2) -> up x2 -> conv3x3 baseWidth -> BN -> LReLU -> up x2 ->
 * conv3x3 baseWidth/2 -> BN -> LReLU -> conv3x3 outputChannels, no output activation. BN always
 * uses batch statistics (eps 1e-5) and keeps no running statistics.
 *
 * Init as the reference: BN gamma ~ N(1, 0.02), beta 0; conv weight kaiming-normal
 * (std sqrt(2 / fan_in)), conv bias 0; Linear weight and bias U(+-1/sqrt(fan_in)).
 */
export function conditionalGenerator(options: ConditionalGeneratorOptions): ConditionalGenerator {
  const o = resolveGeneratorOptions(options);
  const params = new ParameterSet('generator', ['running_mean', 'running_var', 'num_batches_tracked']);
  const inputSize = o.latentSize + o.numClasses;
  const linearOut = o.baseWidth * o.initSize * o.initSize;
  const half = o.baseWidth / 2;
  const linearBound = pytorchDefaultBound(inputSize);
  params.add('l1.weight', uniform([inputSize, linearOut], linearBound, o.seed, 'l1.weight'), 'linear');
  params.add('l1.bias', uniform([linearOut], linearBound, o.seed, 'l1.bias'), 'same');
  const bn = (name: string, channels: number): void => {
    params.add(`${name}.weight`, normal([channels], 1, 0.02, o.seed, `${name}.weight`), 'same');
    params.add(`${name}.bias`, tf.zeros([channels]), 'same');
  };
  const conv = (name: string, inC: number, outC: number): void => {
    const std = kaimingNormalStd(inC * 9);
    params.add(`${name}.weight`, normal([3, 3, inC, outC], 0, std, o.seed, `${name}.weight`), 'conv');
    params.add(`${name}.bias`, tf.zeros([outC]), 'same');
  };
  bn('bn0', o.baseWidth);
  conv('conv1', o.baseWidth, o.baseWidth);
  bn('bn1', o.baseWidth);
  conv('conv2', o.baseWidth, half);
  bn('bn2', half);
  conv('conv3', half, o.outputChannels);
  const p = params.variables;

  const forward = (zWithOneHot: tf.Tensor2D): tf.Tensor4D => {
    params.assertLive();
    if (zWithOneHot.rank !== 2 || zWithOneHot.shape[1] !== inputSize) {
      throw new Error(
        `conditionalGenerator.forward: expected [batch, ${inputSize}] (latent ${o.latentSize} + one-hot ${o.numClasses}), ` +
          `got [${zWithOneHot.shape}].`,
      );
    }
    return tf.tidy(() => {
      const b = zWithOneHot.shape[0];
      const s = o.initSize;
      const flat = tf.add(tf.matMul(zWithOneHot, p['l1.weight']), p['l1.bias']);
      // PyTorch's .view(B, C, H, W) then NCHW -> NHWC.
      let x = tf.transpose(tf.reshape(flat, [b, o.baseWidth, s, s]), [0, 2, 3, 1]) as tf.Tensor4D;
      x = tf.leakyRelu(batchNormBatchStats(x, p['bn0.weight'], p['bn0.bias'], BN_EPSILON), LEAKY_SLOPE);
      x = upsampleNearest(x, 2, 2);
      x = conv2d(x, p['conv1.weight'], p['conv1.bias']);
      x = tf.leakyRelu(batchNormBatchStats(x, p['bn1.weight'], p['bn1.bias'], BN_EPSILON), LEAKY_SLOPE);
      x = upsampleNearest(x, 2, 2);
      x = conv2d(x, p['conv2.weight'], p['conv2.bias']);
      x = tf.leakyRelu(batchNormBatchStats(x, p['bn2.weight'], p['bn2.bias'], BN_EPSILON), LEAKY_SLOPE);
      return conv2d(x, p['conv3.weight'], p['conv3.bias']);
    });
  };

  return {
    options: o,
    inputSize,
    parameters: p,
    forward,
    loadPytorchParameters: (record, loadOptions) => params.loadPytorch(record, loadOptions),
    toPytorchLayout: (tensors) => params.toPytorch(tensors),
    dispose: () => params.dispose(),
  };
}
