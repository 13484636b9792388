/** Checkpoints as safetensors files in a folder (Node only; exported by natinv/node). */
import * as path from 'path';
import { writeSafetensorsFile } from '../io/files';
import { exportPytorchWeights } from '../models/pytorch-weights';
import { CheckpointCallback, checkpointFileName } from './checkpoint';

/**
 * A checkpoint callback that writes `epoch-0001.safetensors`, ... into `dir`: the model's
 * weights under their PyTorch names and layouts (exportPytorchWeights, with
 * num_batches_tracked), loadable with loadPytorchWeights or PyTorch's load_state_dict.
 */
export function checkpointFolder(dir: string): CheckpointCallback {
  if (typeof dir !== 'string' || dir.length === 0) throw new Error('checkpointFolder needs a folder path.');
  return async ({ epoch, model, report }) => {
    const metadata = { epoch: String(epoch), loss: String(report.loss), model: model.name };
    await writeSafetensorsFile(
      path.join(dir, checkpointFileName(epoch)),
      exportPytorchWeights(model, { numBatchesTracked: true }),
      metadata,
    );
  };
}
