import * as tf from '@tensorflow/tfjs-core';
import { normal } from './init';
import { ParameterSet } from './parameters';

/** Options of {@link adaptiveChannelScaling}. */
export interface AdaptiveChannelScalingOptions {
  /** Number of images; alpha has one scale per image and channel. Required. */
  batchSize: number;
  /** Image channels. Default 3. */
  channels?: number;
  /** Mean of the initial scales. Default 5 (NaturalInversion). */
  mean?: number;
  /** Standard deviation of the initial scales. Default 1. */
  std?: number;
  /** Seed of the initialization. Required. */
  seed: number;
}

/** Adaptive Channel Scaling: a learnable scale per image and channel. */
export interface AdaptiveChannelScaling {
  /** The scales, [B, 1, 1, C] (NHWC, as in the parity vectors). */
  readonly alpha: tf.Variable;
  /** `{ alpha }`, for symmetry with the other modules. */
  readonly parameters: Readonly<Record<string, tf.Variable>>;
  /** alpha * x for x of shape [B, H, W, C]. */
  apply(x: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

function check(value: number | undefined, what: string, test: (v: number) => boolean, hint: string): void {
  if (value != null && !test(value)) throw new Error(`adaptiveChannelScaling: ${what} ${hint}, got ${value}.`);
}

/** Builds ACS with alpha ~ N(mean, std^2) of shape [batchSize, 1, 1, channels]. */
export function adaptiveChannelScaling(options: AdaptiveChannelScalingOptions): AdaptiveChannelScaling {
  if (options == null || typeof options !== 'object') {
    throw new Error('adaptiveChannelScaling: pass an options object { batchSize, seed }.');
  }
  const isPositiveInt = (v: number): boolean => Number.isInteger(v) && v >= 1;
  check(options.batchSize ?? NaN, 'batchSize', isPositiveInt, 'must be a positive integer');
  check(options.channels, 'channels', isPositiveInt, 'must be a positive integer');
  check(options.mean, 'mean', Number.isFinite, 'must be a finite number');
  check(options.std, 'std', (v) => Number.isFinite(v) && v >= 0, 'must be a finite number >= 0');
  check(options.seed ?? NaN, 'seed', Number.isInteger, 'must be an integer');
  const channels = options.channels ?? 3;
  const params = new ParameterSet('alpha');
  const alpha = params.add(
    'alpha',
    normal([options.batchSize, 1, 1, channels], options.mean ?? 5, options.std ?? 1, options.seed, 'alpha'),
    'same',
  );
  return {
    alpha,
    parameters: params.variables,
    apply: (x) => {
      params.assertLive();
      if (x.rank !== 4 || x.shape[0] !== options.batchSize || x.shape[3] !== channels) {
        throw new Error(`adaptiveChannelScaling.apply: expected [${options.batchSize}, H, W, ${channels}], got [${x.shape}].`);
      }
      return tf.mul(alpha, x);
    },
    dispose: () => params.dispose(),
  };
}
