import * as tf from '@tensorflow/tfjs-core';
import { FeatureSpec, integerRatio, validateFeatureSpecs } from './feature-specs';
import { pytorchDefaultBound, uniform } from './init';
import { conv2d, upsampleNearest } from './ops';
import { LoadPytorchOptions, ParameterSet } from './parameters';

/** Options of {@link featureTransferPyramid}. */
export interface FeatureTransferPyramidOptions {
  /** Teacher feature maps the pyramid reads, deepest (smallest) first; see featureSpecsFromModel. */
  features: readonly FeatureSpec[];
  /** Channels of the generator image it refines. Default 3. */
  imageChannels?: number;
  /** Seed of the initialization. Required: a pyramid built from the same seed is identical. */
  seed: number;
}

/**
 * NaturalInversion's Feature Transfer Pyramid: refines a generator image with the teacher's
 * multi-scale feature maps. Parameters carry the reference's PyTorch names: `reduce.k.*` (the 1x1
 * conv of stage k), `mix.k.*` (its 3x3), `to_image.*`, `out.*`; kernels are stored HWIO.
 */
export interface FeatureTransferPyramid {
  readonly features: readonly FeatureSpec[];
  readonly imageChannels: number;
  /** Trainable parameters by PyTorch name. */
  readonly parameters: Readonly<Record<string, tf.Variable>>;
  /**
   * `o = taps[0]`; per next tap f: `o = conv3x3(conv1x1(up(o)) + f)`; `r = conv1x1(o)` to image
   * channels (upsampled to g's size if smaller); returns `tanh(conv1x1(g + r))`.
   * @param g Generator image [B, H, W, imageChannels].
   * @param taps Teacher feature maps, shaped as `features` (deepest first), [B, h, w, c].
   */
  forward(g: tf.Tensor4D, taps: readonly tf.Tensor4D[]): tf.Tensor4D;
  loadPytorchParameters(record: Readonly<Record<string, tf.Tensor>>, options?: LoadPytorchOptions): void;
  toPytorchLayout(tensors: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor>;
  dispose(): void;
}

/**
 * Builds a Feature Transfer Pyramid for the given feature specs. Every conv has a bias and
 * PyTorch's default init (weight and bias U(+-1/sqrt(fan_in))); 3x3 convs pad 1 symmetrically.
 * There are no activations besides the final tanh.
 */
export function featureTransferPyramid(options: FeatureTransferPyramidOptions): FeatureTransferPyramid {
  if (options == null || typeof options !== 'object') {
    throw new Error('featureTransferPyramid: pass an options object { features, seed }.');
  }
  const features = options.features?.map((f) => ({ ...f }));
  validateFeatureSpecs(features, 'featureTransferPyramid');
  const imageChannels = options.imageChannels ?? 3;
  if (!Number.isInteger(imageChannels) || imageChannels < 1) {
    throw new Error(`featureTransferPyramid: imageChannels must be a positive integer, got ${imageChannels}.`);
  }
  if (!Number.isInteger(options.seed)) {
    throw new Error(`featureTransferPyramid: seed must be an integer, got ${options.seed}.`);
  }
  const seed = options.seed;
  const params = new ParameterSet('ftp');
  const conv = (name: string, k: number, inC: number, outC: number): void => {
    const bound = pytorchDefaultBound(inC * k * k);
    params.add(`${name}.weight`, uniform([k, k, inC, outC], bound, seed, `${name}.weight`), 'conv');
    params.add(`${name}.bias`, uniform([outC], bound, seed, `${name}.bias`), 'same');
  };
  for (let k = 0; k + 1 < features.length; k++) {
    conv(`reduce.${k}`, 1, features[k].channels, features[k + 1].channels);
    conv(`mix.${k}`, 3, features[k + 1].channels, features[k + 1].channels);
  }
  const last = features[features.length - 1];
  conv('to_image', 1, last.channels, imageChannels);
  conv('out', 1, imageChannels, imageChannels);
  const p = params.variables;

  const checkInputs = (g: tf.Tensor4D, taps: readonly tf.Tensor4D[]): void => {
    if (g.rank !== 4 || g.shape[3] !== imageChannels) {
      throw new Error(`featureTransferPyramid.forward: g must be [B, H, W, ${imageChannels}], got [${g.shape}].`);
    }
    if (!Array.isArray(taps) || taps.length !== features.length) {
      throw new Error(
        `featureTransferPyramid.forward: expected ${features.length} taps (${features.map((f) => f.name).join(', ')}), ` +
          `got ${Array.isArray(taps) ? taps.length : typeof taps}.`,
      );
    }
    taps.forEach((tap, k) => {
      const f = features[k];
      const want = [g.shape[0], f.height, f.width, f.channels];
      if (tap.rank !== 4 || tap.shape.some((d: number, i: number) => d !== want[i])) {
        throw new Error(`featureTransferPyramid.forward: tap ${k} (${f.name}) must be [${want}], got [${tap.shape}].`);
      }
    });
    if (integerRatio(last.height, g.shape[1]) == null || integerRatio(last.width, g.shape[2]) == null) {
      throw new Error(
        `featureTransferPyramid.forward: the image (${g.shape[1]}x${g.shape[2]}) must be a whole-number upscale of ` +
          `the largest tap ${last.name} (${last.height}x${last.width}).`,
      );
    }
  };

  const forward = (g: tf.Tensor4D, taps: readonly tf.Tensor4D[]): tf.Tensor4D => {
    params.assertLive();
    checkInputs(g, taps);
    return tf.tidy(() => {
      let o: tf.Tensor4D = taps[0];
      for (let k = 0; k + 1 < features.length; k++) {
        const f = taps[k + 1];
        // A 1x1 conv commutes with nearest upsampling, so running it first gives the same values
        // at a quarter of the cost.
        const reduced = conv2d(o, p[`reduce.${k}.weight`], p[`reduce.${k}.bias`]);
        const up = upsampleNearest(reduced, f.shape[1] / o.shape[1], f.shape[2] / o.shape[2]);
        o = conv2d(tf.add(up, f), p[`mix.${k}.weight`], p[`mix.${k}.bias`]);
      }
      let r = conv2d(o, p['to_image.weight'], p['to_image.bias']);
      r = upsampleNearest(r, g.shape[1] / r.shape[1], g.shape[2] / r.shape[2]);
      return tf.tanh(conv2d(tf.add(g, r), p['out.weight'], p['out.bias']));
    });
  };

  return {
    features,
    imageChannels,
    parameters: p,
    forward,
    loadPytorchParameters: (record, loadOptions) => params.loadPytorch(record, loadOptions),
    toPytorchLayout: (tensors) => params.toPytorch(tensors),
    dispose: () => params.dispose(),
  };
}
