/**
 * Per-epoch checkpoints of a model being trained: a callback (natinv/node's checkpointFolder
 * makes one that writes safetensors files).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochReport } from './reports';

/** Receives the model after an epoch; awaited before training goes on. */
export type CheckpointCallback = (info: {
  readonly epoch: number;
  readonly model: tfl.LayersModel;
  readonly report: EpochReport;
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
export async function saveCheckpoint(checkpoint: Checkpoint, model: tfl.LayersModel, report: EpochReport): Promise<void> {
  if (typeof checkpoint !== 'function') {
    throw new Error(
      'checkpoint must be a function ({ epoch, model, report }) => void; to write files into a folder, ' +
        "pass checkpointFolder(dir) from 'natinv/node'.",
    );
  }
  await checkpoint({ epoch: report.epoch, model, report });
}
