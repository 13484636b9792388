/**
 * Applications of synthesized images: knowledge distillation, filter pruning + fine-tuning,
 * training from scratch and data-free continual learning (top-1 evaluation is the metrics' `evaluate`).
 */
export { distill, studentTrainer } from './distill';
export type { DistillOptions, StudentTrainerOptions } from './distill';
export { batchesNeeded } from './arriving';
export type { ArrivingImages, PoolGrowth } from './arriving';
export { pruneFilters } from './prune';
export type { PruneFiltersOptions, PruneFiltersResult, PrunedLayer } from './prune';
export { fineTune, trainFromScratch } from './supervised';
export type { FineTuneOptions, TrainFromScratchOptions } from './supervised';
export { continualLearning, extendClassifier } from './continual';
export type { ContinualLearningOptions, ExtendClassifierOptions } from './continual';
export { TrainingDivergenceError, cosineRate, stepDecayRate } from './loop';
export type { EpochReport, TrainStepReport, TrainingResult, TrainingOptions } from './loop';
export type { Checkpoint, CheckpointCallback, TrainingProgress, TrainingSnapshot } from './checkpoint';
export { checkpointFileName } from './checkpoint';
export type { HostImages, TrainingImages, LabelledSet, CropFlipOptions } from './images';
export type { Classifier } from './common';
export { adiStudent } from './adi-student';
export type { AdiStudent, AdiStudentOptions } from './adi-student';
export { dataFreeDistill } from './data-free-distill';
export type {
  DataFreeDistillOptions,
  DataFreeDistillProgress,
  DataFreeDistillResult,
  DataFreeDistillSnapshot,
  Evaluation,
  RoundReport,
} from './data-free-distill';
