/**
 * natinv: model-inversion primitives for TensorFlow.js. This entry is platform-neutral (tfjs-core
 * and tfjs-layers, bytes in and out) and bundles for browsers; `natinv/node` (src/node.ts) adds
 * files, dataset folders, resumable runs and backend start-up.
 *
 * Data flows one way: teacher + source + objective -> synthesis loop -> images -> apps/metrics.
 */
export { assertGradientsRegistered } from './runtime/gradients';
export { deriveSeed, Random } from './util/random';
export * from './io';
export * from './models';
export * from './taps';
export * from './objectives';
export * from './augment';
export * from './sources';
export * from './optim';
export * from './synthesis';
export * from './metrics';
export * from './apps';
