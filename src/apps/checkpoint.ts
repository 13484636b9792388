/**
 * Per-epoch checkpoints of a model being trained: a callback (natinv/node's checkpointFolder
 * makes one that writes safetensors files).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochReport } from './reports';

/** A training run's position after a finished epoch, as plain JSON (a {@link TrainingSnapshot}'s `json`). */
export interface TrainingProgress {
  readonly format: 'natinv-training';
  readonly version: 1;
  /** The application that trained (`distill`, `fineTune`, ...); a snapshot resumes only its own. */
  readonly what: string;
  /** Epochs finished, and optimizer steps taken, of `totalSteps`. */
  readonly epochsDone: number;
  readonly step: number;
  readonly totalSteps: number;
  readonly momentumStarted: boolean;
  readonly history: readonly EpochReport[];
  readonly testAccuracy: number | null;
}

/**
 * Everything a training run needs to continue exactly after a finished epoch: the progress and
 * the model's weights (`model.<i>`, moving statistics included) and SGD's momentum
 * (`momentum.<i>`). Pass it as `resume` to the same application with the same options and images.
 */
export interface TrainingSnapshot {
  readonly json: TrainingProgress;
  readonly tensors: Readonly<Record<string, tf.Tensor>>;
}

/**
 * Receives the model after an epoch, and the snapshot that resumes the run from there (its
 * tensors are disposed once the callback's promise settles); awaited before training goes on.
 */
export type CheckpointCallback = (info: {
  readonly epoch: number;
  readonly model: tfl.LayersModel;
  readonly report: EpochReport;
  readonly snapshot: TrainingSnapshot;
}) => void | Promise<void>;

/**
 * Where checkpoints go: a callback. In Node, `checkpointFolder(dir)` from natinv/node writes
 * `epoch-0001.safetensors`, ... with the model's weights under their PyTorch names and layouts.
 */
export type Checkpoint = CheckpointCallback;

/** Name of the checkpoint file of a 1-based epoch. */
export function checkpointFileName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}.safetensors`;
}

/** Hands over one checkpoint. */
export async function saveCheckpoint(
  checkpoint: Checkpoint,
  model: tfl.LayersModel,
  report: EpochReport,
  snapshot: TrainingSnapshot,
): Promise<void> {
  if (typeof checkpoint !== 'function') {
    throw new Error(
      'checkpoint must be a function ({ epoch, model, report }) => void; to write files into a folder, ' +
        "pass checkpointFolder(dir) from 'natinv/node'.",
    );
  }
  await checkpoint({ epoch: report.epoch, model, report, snapshot });
}
