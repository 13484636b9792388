export * from './types';
export {
  conditionalGenerator,
  resolveGeneratorOptions,
  type ConditionalGenerator,
  type ConditionalGeneratorOptions,
  type ResolvedGeneratorOptions,
} from './conditional-generator';
export { featureSpecsFromModel, validateFeatureSpecs, type FeatureSpec } from './feature-specs';
export {
  featureTransferPyramid,
  type FeatureTransferPyramid,
  type FeatureTransferPyramidOptions,
} from './feature-transfer-pyramid';
export {
  fromPytorchLayout,
  toPytorchLayout,
  type LoadPytorchOptions,
  type PytorchLayout,
} from './parameters';
