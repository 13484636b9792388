export type { EvaluationContext, ObjectiveRequirements, Objective, TermValue } from './types';
export {
  euclideanNorm,
  batchNormLayerLoss,
  batchNormStatisticsLoss,
  crossEntropyLoss,
  totalVariationLoss,
  l2PriorLoss,
  competitionLoss,
  kdLoss,
  maskedDisagreementLoss,
} from './losses';
export type { TotalVariationForm, L2PriorForm } from './losses';
export { bnStatistics, crossEntropy, totalVariation, l2Prior, competition, kd, adversarial } from './terms';
export type { BnStatisticsOptions, BatchNormHistory } from './terms';
export { weighted } from './weighted';
export type { WeightedObjective } from './weighted';
