/**
 * Layer factories with PyTorch semantics and PyTorch names, shared by every zoo architecture.
 *
 * Naming convention (taps and the Feature Transfer Pyramid rely on it): a layer that has a
 * PyTorch module counterpart carries that module's name (`conv1`, `layer1.0.bn1`,
 * `layer2.0.shortcut.0`, `features.3`, `linear`); helper layers PyTorch does not have as modules
 * are named after the module they serve: `<conv>.pad` (explicit zero padding), `<bn>.relu` (a
 * functional ReLU after that BatchNorm), `<block>.add` (the residual sum), and the layer that
 * produces a residual block's output carries the block's own name (`layer1.2`).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { deriveSeed } from '../util/random';

/** A symbolic tensor of the functional tfjs-layers API. */
export type Sym = tfl.SymbolicTensor;

type Initializer = ReturnType<typeof tfl.initializers.zeros>;

/**
 * How conv and linear weights are drawn, following the upstream repository:
 * `kaimingNormal` = torch.nn.init.kaiming_normal_ (fan_in, gain sqrt 2, untruncated; akamaster);
 * `pytorchDefault` = PyTorch's default U(+-1/sqrt(fan_in)) (kuangliu).
 * Biases always use PyTorch's default U(+-1/sqrt(fan_in)); BatchNorm gamma 1, beta 0.
 */
export type InitScheme = 'kaimingNormal' | 'pytorchDefault';

/** What the builders need to create layers deterministically. */
export interface BuildContext {
  /** Seed for every initializer (each layer derives its own); undefined = not reproducible. */
  readonly seed?: number;
  readonly init: InitScheme;
}

function seedFor(ctx: BuildContext, key: string): number | undefined {
  return ctx.seed === undefined ? undefined : deriveSeed(ctx.seed, key);
}

function uniform(bound: number, seed: number | undefined): Initializer {
  return tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed });
}

function weightInitializer(ctx: BuildContext, name: string, fanIn: number): Initializer {
  const seed = seedFor(ctx, `${name}.weight`);
  if (ctx.init === 'kaimingNormal') {
    // randomNormal, not heNormal: tfjs' heNormal is truncated, PyTorch's kaiming_normal_ is not.
    return tfl.initializers.randomNormal({ mean: 0, stddev: Math.sqrt(2 / fanIn), seed });
  }
  return uniform(1 / Math.sqrt(fanIn), seed);
}

function biasInitializer(ctx: BuildContext, name: string, fanIn: number): Initializer {
  return uniform(1 / Math.sqrt(fanIn), seedFor(ctx, `${name}.bias`));
}

/** Channels (last axis) of a symbolic NHWC tensor. */
export function channelsOf(x: Sym): number {
  const c = x.shape[x.shape.length - 1];
  if (c == null) throw new Error(`natinv: tensor ${x.name} has an unknown channel count; give the model a full input shape.`);
  return c;
}

/** One 2-D convolution as PyTorch's nn.Conv2d (square kernel, symmetric padding). */
export interface ConvSpec {
  /** PyTorch module name, e.g. `layer1.0.conv1`. */
  readonly name: string;
  /** Output channels (ignored for depthwise: a depthwise conv keeps the channel count). */
  readonly filters: number;
  readonly kernel: number;
  /** Default 1. */
  readonly stride?: number;
  /** Zero padding on each side, as PyTorch's `padding`. Default 0. */
  readonly padding?: number;
  /** Default false (every zoo conv followed by BatchNorm has none, except in VGG). */
  readonly bias?: boolean;
  /** groups = channels (MobileNetV2). Default false. */
  readonly depthwise?: boolean;
}

/**
 * nn.Conv2d. Padding is explicit and symmetric: TF 'same' pads 0 before and 1 after for a
 * stride-2 3x3 conv on even inputs, which is not what PyTorch computes. At stride 1 with an odd
 * kernel and padding (k-1)/2, 'same' is symmetric and is used to save a layer.
 */
export function conv2d(ctx: BuildContext, x: Sym, spec: ConvSpec): Sym {
  const { name, kernel, stride = 1, padding = 0, bias = false, depthwise = false } = spec;
  const inChannels = channelsOf(x);
  const fanIn = (depthwise ? 1 : inChannels) * kernel * kernel;
  let input = x;
  let tfPadding: 'same' | 'valid' = 'valid';
  if (padding > 0) {
    if (stride === 1 && kernel % 2 === 1 && 2 * padding === kernel - 1) {
      tfPadding = 'same';
    } else {
      const pad: [[number, number], [number, number]] = [
        [padding, padding],
        [padding, padding],
      ];
      input = tfl.layers.zeroPadding2d({ padding: pad, name: `${name}.pad` }).apply(x) as Sym;
    }
  }
  const common = {
    name,
    kernelSize: kernel,
    strides: stride,
    padding: tfPadding,
    useBias: bias,
    biasInitializer: bias ? biasInitializer(ctx, name, fanIn) : undefined,
  };
  const layer = depthwise
    ? tfl.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: weightInitializer(ctx, name, fanIn) })
    : tfl.layers.conv2d({ ...common, filters: spec.filters, kernelInitializer: weightInitializer(ctx, name, fanIn) });
  return layer.apply(input) as Sym;
}

/** nn.BatchNorm2d: epsilon 1e-5 and momentum 0.1 in PyTorch's convention (0.9 in Keras'). */
export function batchNorm(x: Sym, name: string): Sym {
  return tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-5, momentum: 0.9, name }).apply(x) as Sym;
}

export function relu(x: Sym, name: string): Sym {
  return tfl.layers.reLU({ name }).apply(x) as Sym;
}

/** The residual sum; `name` is `<block>.add`. */
export function add(a: Sym, b: Sym, name: string): Sym {
  return tfl.layers.add({ name }).apply([a, b]) as Sym;
}

/** A no-op layer that gives a block output without a final activation its block's name. */
export function identity(x: Sym, name: string): Sym {
  return tfl.layers.activation({ activation: 'linear', name }).apply(x) as Sym;
}

/** conv -> BN (-> ReLU named `<bn>.relu`). */
export function convBn(ctx: BuildContext, x: Sym, spec: ConvSpec & { readonly bn: string; readonly relu?: boolean }): Sym {
  const y = batchNorm(conv2d(ctx, x, spec), spec.bn);
  return spec.relu ? relu(y, `${spec.bn}.relu`) : y;
}

/** nn.Linear on a [B, features] tensor. */
export function linear(ctx: BuildContext, x: Sym, name: string, units: number): Sym {
  const fanIn = channelsOf(x);
  return tfl.layers
    .dense({
      name,
      units,
      kernelInitializer: weightInitializer(ctx, name, fanIn),
      biasInitializer: biasInitializer(ctx, name, fanIn),
    })
    .apply(x) as Sym;
}

/**
 * `out.view(B, -1)`: flattens in PyTorch's C,H,W order so that a Linear layer's weights carry
 * over unchanged (a Permute is only inserted when the map is larger than 1x1).
 */
export function flattenLikePytorch(x: Sym): Sym {
  const [, h, w] = x.shape;
  const nchw = h === 1 && w === 1 ? x : (tfl.layers.permute({ dims: [3, 1, 2], name: 'flatten.nchw' }).apply(x) as Sym);
  return tfl.layers.flatten({ name: 'flatten' }).apply(nchw) as Sym;
}
