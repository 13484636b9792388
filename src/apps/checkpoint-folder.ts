/**
 * Checkpoints as files in a folder (Node only; exported by natinv/node): per-epoch weights as
 * safetensors, and the state that resumes the run (`resume-EEEE.safetensors`, named by
 * `resume.json`, which is written last and atomically, so a process killed at any point leaves
 * the previous complete state readable).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '../io/files';
import { rawToTensor, tensorToRaw } from '../io/safetensors';
import { exportPytorchWeights } from '../models/pytorch-weights';
import { CheckpointCallback, checkpointFileName, TrainingProgress, TrainingSnapshot } from './checkpoint';

/** The file naming the latest resumable state in a checkpoint folder. */
export const RESUME_FILE = 'resume.json';

interface ResumeFile {
  readonly format: 'natinv-training-checkpoint';
  readonly version: 1;
  /** What the caller said the run is (its settings); a resume compares it with its own. */
  readonly configuration: Record<string, unknown>;
  readonly progress: TrainingProgress;
  /** File name of the snapshot's tensors, inside the folder. */
  readonly tensors: string;
}

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
    const tensors: Record<string, Awaited<ReturnType<typeof tensorToRaw>>> = {};
    for (const [name, t] of Object.entries(snapshot.tensors)) tensors[name] = await tensorToRaw(t);
    const tensorsFile = resumeTensorsFile(epoch);
    await writeSafetensorsFile(path.join(dir, tensorsFile), tensors);
    const resume: ResumeFile = {
      format: 'natinv-training-checkpoint',
      version: 1,
      configuration: options.configuration ?? {},
      progress: snapshot.json,
      tensors: tensorsFile,
    };
    await writeFileAtomic(path.join(dir, RESUME_FILE), new TextEncoder().encode(`${JSON.stringify(resume, null, 2)}\n`));
    for (const name of await fs.readdir(dir)) {
      if (/^resume-\d+\.safetensors$/.test(name) && name !== tensorsFile) await fs.rm(path.join(dir, name), { force: true });
    }
  };
}

/** Reads the resumable state {@link checkpointFolder} left in `dir`; undefined when there is none. */
export async function loadTrainingCheckpoint(dir: string): Promise<LoadedTrainingCheckpoint | undefined> {
  const file = path.join(dir, RESUME_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the training checkpoint ${file}: ${(cause as Error).message}.`);
  }
  let resume: ResumeFile;
  try {
    resume = JSON.parse(text) as ResumeFile;
  } catch (cause) {
    throw new Error(`cannot parse the training checkpoint ${file}: ${(cause as Error).message}. Delete it to start over.`);
  }
  if (resume.format !== 'natinv-training-checkpoint' || resume.version !== 1) {
    throw new Error(`${file} is not a natinv training checkpoint (format natinv-training-checkpoint, version 1).`);
  }
  const stored = await readSafetensorsFile(path.join(dir, resume.tensors));
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, raw] of Object.entries(stored.tensors)) tensors[name] = rawToTensor(raw);
  return { snapshot: { json: resume.progress, tensors }, configuration: resume.configuration };
}
