export { synthesize, DivergenceError } from './synthesize';
export type { StepReport, SynthesisOptions, SynthesisResult } from './synthesize';
export { denormalize, normalize } from './batch';
export type { SynthesizedBatch } from './batch';
export type { TrainerOptions } from './trainer';
export { deepInversion, adaptiveDeepInversion, naturalInversion, DEEP_INVERSION_PRESETS, NATURAL_INVERSION_PRESETS } from './methods';
export type {
  InversionWeights,
  CompetitionOptions,
  CompetitionTermOptions,
  DeepInversionOptions,
  NaturalInversionOptions,
} from './methods';
export { checkSynthesisConfiguration, CONFIGURATION_METHODS } from './configuration';
export { fastInversionOptions, synthesizeFromConfiguration } from './configured';
export type { ConfigurationRunOptions } from './configured';
export type {
  DeepInversionConfiguration,
  NaturalInversionConfiguration,
  AdaptiveDeepInversionConfiguration,
  FastInversionConfiguration,
  SynthesisConfiguration,
} from './configuration';
export { runRecordFor, weightsFingerprint } from './run-record';
export type { RunRecord } from './run-record';
export type { SynthesizerState, SynthesizeBatchOptions, BatchSynthesizer } from './synthesizer';
export { resolveFastSettings, fastSynthesizer, fastInversion } from './fast';
export type {
  FastInversionWeights,
  FastAdversarialOptions,
  FastInversionOptions,
  FastInversionSettings,
  FastSynthesizer,
  FastInversionRunOptions,
} from './fast';
export { deepInversionSynthesizer, naturalInversionSynthesizer } from './per-batch-synthesizers';
export type { PerBatchOptions, DeepInversionSynthesizerOptions, NaturalInversionSynthesizerOptions } from './per-batch-synthesizers';
