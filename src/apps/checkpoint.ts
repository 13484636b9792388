/** Per-epoch checkpoints of a model being trained: a callback, or safetensors files in a folder. */
import type * as tfl from '@tensorflow/tfjs-layers';
import { exportPytorchWeights } from '../models/pytorch-weights';
import type { EpochReport } from './loop';

/** Receives the model after an epoch; awaited before training goes on. */
export type CheckpointCallback = (info: {
  readonly epoch: number;
  readonly model: tfl.LayersModel;
  readonly report: EpochReport;
}) => void | Promise<void>;

/**
 * Where checkpoints go: a callback, or a folder (Node only) that receives
 * `epoch-0001.safetensors`, ... holding the model's weights under their PyTorch names and layouts
 * (exportPytorchWeights), loadable with loadPytorchWeights or PyTorch's load_state_dict.
 */
export type Checkpoint = string | CheckpointCallback;

/** Name of the checkpoint file of a 1-based epoch. */
export function checkpointFileName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}.safetensors`;
}

/** Writes or hands over one checkpoint. */
export async function saveCheckpoint(checkpoint: Checkpoint, model: tfl.LayersModel, report: EpochReport): Promise<void> {
  if (typeof checkpoint === 'function') {
    await checkpoint({ epoch: report.epoch, model, report });
    return;
  }
  if (typeof checkpoint !== 'string' || checkpoint.length === 0) {
    throw new Error('checkpoint must be a folder path or a function ({ epoch, model, report }) => void.');
  }
  const [{ writeSafetensorsFile }, path] = await Promise.all([import('../io/files'), import('path')]);
  const metadata = { epoch: String(report.epoch), loss: String(report.loss), model: model.name };
  await writeSafetensorsFile(
    path.join(checkpoint, checkpointFileName(report.epoch)),
    exportPytorchWeights(model, { numBatchesTracked: true }),
    metadata,
  );
}
