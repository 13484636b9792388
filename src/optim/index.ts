export { adam, sgd } from './optimizers';
export type { Optimizer, AdamOptions, AdamState, AdamOptimizer, SgdOptions, SgdState, SgdOptimizer } from './optimizers';
export { constantRate, cosineWithWarmup } from './schedules';
export type { LearningRateSchedule } from './schedules';
