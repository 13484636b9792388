export { TappedNetwork, tapNetwork } from './tapped-network';
export type { BatchNormTap, BatchNormUpdate, TapOutputs, TapRequest, TrainingOutputs } from './tapped-network';
export type { BatchStatistics } from './batch-norm-training';
export { withoutGradient } from './detach';
export { FeatureMaps } from './feature-maps';
