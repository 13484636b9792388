/**
 * Metrics of synthesized images: Fréchet distance of pooled features, improved precision/recall,
 * inception score, top-1 accuracy of a classifier and of an independent verifier.
 */
export { frechetDistance, frechetDistanceFromStatistics, frechetDistanceTerms } from './frechet';
export type { FrechetDistanceOptions, FrechetDistanceTerms } from './frechet';
export { featureStatistics } from './features';
export type { Features, FeatureInput, FeatureStatistics, FeatureStatisticsOptions } from './features';
export { embedFeatures } from './embed';
export type { EmbedFeaturesOptions } from './embed';
export { evaluate, verifierAccuracy, synthesizedImages, topOneAccuracy } from './accuracy';
export type { Accuracy, ClassAccuracy, LabelledImages, EvaluateOptions, SynthesizedImagesOptions } from './accuracy';
export { classProbabilities } from './predictions';
export type { ClassProbabilities, ClassProbabilitiesOptions } from './predictions';
export { inceptionScore, inceptionScoreFromProbabilities } from './inception-score';
export type { InceptionScore, InceptionScoreOptions } from './inception-score';
export { precisionRecall } from './precision-recall';
export type { PrecisionRecall, PrecisionRecallOptions } from './precision-recall';
export type { ImageBatches, Network } from './batches';
