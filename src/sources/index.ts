export type { VariableGroup, RenderContext, ImageSource } from './types';
export { pixels, type PixelsOptions, type PixelsSource } from './pixels';
export {
  conditionalGenerator,
  type ConditionalGenerator,
  type ConditionalGeneratorOptions,
  type ResolvedGeneratorOptions,
} from './conditional-generator';
export { featureSpecsFromModel, type FeatureSpec } from './feature-specs';
export { featureTransferPyramid, type FeatureTransferPyramid, type FeatureTransferPyramidOptions } from './feature-transfer-pyramid';
export { adaptiveChannelScaling, type AdaptiveChannelScaling, type AdaptiveChannelScalingOptions } from './adaptive-channel-scaling';
export {
  naturalSource,
  type NaturalLearningRates,
  type NaturalSource,
  type NaturalSourceConfig,
  type NaturalSourceOptions,
} from './natural';
export {
  generatorSource,
  GENERATOR_SOURCE_LEARNING_RATES,
  type GeneratorSource,
  type GeneratorSourceLearningRates,
  type GeneratorSourceOptions,
} from './generator-source';
export { oneToOneLabels, type OneToOneLabelsOptions } from './labels';
export type { LoadPytorchOptions, PytorchLayout } from './parameters';
