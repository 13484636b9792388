export { TappedNetwork, tapNetwork } from './tapped-network';
export type { BatchNormTap, TapOutputs, TapRequest } from './tapped-network';
export { withoutGradient } from './detach';
export { FeatureMaps } from './feature-maps';
