/**
 * Checkpoints as files in a folder (Node only; exported by natinv/node): per-epoch weights as
 * safetensors, and the state that resumes the run (`resume-EEEE.safetensors`, named by
 * `resume.json`, which is written last and atomically, so a process killed at any point leaves
 * the previous complete state readable).
 */
import * as path from 'path';
import { writeSafetensorsFile } from '../io/files';
import { exportPytorchWeights } from '../models/pytorch-weights';
import { CheckpointCallback, checkpointFileName, TrainingProgress, TrainingSnapshot } from './checkpoint';
import { readSnapshotFiles, SnapshotRecord, writeSnapshotFiles } from './snapshot-files';

/** The file naming the latest resumable state in a checkpoint folder. */
export const RESUME_FILE = 'resume.json';

const FORMAT = { format: 'natinv-training-checkpoint', version: 1 } as const;

/** A resumable state read back: the snapshot for `resume` (the caller disposes its tensors) and the configuration it was written with. */
export interface LoadedTrainingCheckpoint {
  readonly snapshot: TrainingSnapshot;
  readonly configuration: Record<string, unknown>;
}

function resumeTensorsFile(epoch: number): string {
  return `resume-${String(epoch).padStart(4, '0')}.safetensors`;
}

/**
 * A checkpoint callback that writes into `dir`, after each checkpointed epoch:
 * `epoch-0001.safetensors`, ... (the model's weights under their PyTorch names and layouts,
 * exportPytorchWeights with num_batches_tracked, loadable with loadPytorchWeights or PyTorch's
 * load_state_dict), and the state that resumes the run, recorded with `configuration` (read it
 * back with {@link loadTrainingCheckpoint}).
 */
export function checkpointFolder(dir: string, options: { readonly configuration?: Record<string, unknown> } = {}): CheckpointCallback {
  if (typeof dir !== 'string' || dir.length === 0) throw new Error('checkpointFolder needs a folder path.');
  return async ({ epoch, model, report, snapshot }) => {
    const metadata = { epoch: String(epoch), loss: String(report.loss), model: model.name };
    await writeSafetensorsFile(
      path.join(dir, checkpointFileName(epoch)),
      exportPytorchWeights(model, { numBatchesTracked: true }),
      metadata,
    );
    const resume: SnapshotRecord<TrainingProgress> = {
      ...FORMAT,
      configuration: options.configuration ?? {},
      progress: snapshot.json,
      tensors: resumeTensorsFile(epoch),
    };
    await writeSnapshotFiles(dir, RESUME_FILE, resume, snapshot.tensors, /^resume-\d+\.safetensors$/);
  };
}

/** Reads the resumable state {@link checkpointFolder} left in `dir`; undefined when there is none. */
export async function loadTrainingCheckpoint(dir: string): Promise<LoadedTrainingCheckpoint | undefined> {
  const read = await readSnapshotFiles<TrainingProgress>(dir, RESUME_FILE, FORMAT, 'training checkpoint');
  return read === undefined
    ? undefined
    : { snapshot: { json: read.record.progress, tensors: read.tensors }, configuration: read.record.configuration };
}
