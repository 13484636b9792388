/**
 * natinv: model-inversion primitives for TensorFlow.js.
 *
 * Data flows one way: teacher + source + objective -> synthesis loop -> images -> apps/metrics.
 */
export * from './runtime/backend';
export { deriveSeed, Random } from './util/random';
export * from './io';
export * from './models';
export * from './taps';
export * from './objectives';
export * from './augment';
export * from './sources';
export * from './optim';
export * from './synthesis';
export * from './dataset';
export * from './metrics';
export * from './apps';
