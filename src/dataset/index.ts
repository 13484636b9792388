/**
 * Dataset folders: where synthesized batches go (safetensors + PNGs + grids + a manifest), runs
 * that resume after interruption, sharding over processes, and merging shard folders. Node only.
 */
export {
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  batchName,
  batchFilePath,
  batchImagesPath,
  batchGridPath,
  batchStatePath,
  imageFileName,
  serializeBatch,
  parseBatch,
} from './format';
export type { DatasetManifest } from './format';
export { writeBatch, writeManifest } from './writer';
export type { WriteBatchOptions, WrittenBatch } from './writer';
export { CorruptBatchError, readManifest, readBatch, listBatchFiles, finishedBatches, readDataset } from './reader';
export type {
  ReadBatchOptions,
  BatchFileListing,
  FinishedBatchesOptions,
  FinishedBatches,
  CorruptBatch,
  ReadDatasetOptions,
  Dataset,
} from './reader';
export { FolderConflictError, synthesizeToFolder } from './run';
export type { BatchTrainer, FolderProgress, SynthesizeToFolderOptions, FolderSummary } from './run';
export { synthesizeConfiguredRun, readRunRecord, reproduceRun } from './configured-run';
export type { ConfiguredRunOptions, ReproduceRunOptions } from './configured-run';
export { stateTrainer, readSynthesizerState, writeSynthesizerState } from './state-trainer';
export type { StateTrainerOptions } from './state-trainer';
export { parseShard, shardFromEnv, ownsBatch, shardBatches } from './shard';
export type { Shard } from './shard';
export { followDataset } from './follow';
export type { FollowDatasetOptions, FollowedDataset } from './follow';
export { mergeDatasets } from './merge';
export type { MergeDatasetsOptions, MergeSummary } from './merge';
