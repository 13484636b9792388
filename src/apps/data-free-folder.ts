/**
 * A folder that holds a {@link dataFreeDistill} run's checkpoint (Node only): the pool as a
 * dataset folder (`pool/`, each batch written once), the tensors of the latest snapshot
 * (`state-RRRRRR.safetensors`) and `checkpoint.json`, written last and atomically, naming them.
 * A process killed at any point leaves the previous complete checkpoint readable.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs-core';
import * as dataset from '../dataset';
import * as files from '../io/files';
import { rawToTensor, tensorToRaw } from '../io/safetensors';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { DataFreeDistillProgress, DataFreeDistillSnapshot } from './data-free-distill';

/** The file naming the latest complete checkpoint. */
export const CHECKPOINT_FILE = 'checkpoint.json';
/** The pool's dataset folder inside the checkpoint folder. */
export const POOL_DIR = 'pool';

interface CheckpointFile {
  readonly format: 'natinv-kd-checkpoint';
  readonly version: 1;
  /** The run's configuration as the caller gave it; a resume with another is refused. */
  readonly configuration: Record<string, unknown>;
  readonly progress: DataFreeDistillProgress;
  /** File name of the tensors, inside the folder. */
  readonly tensors: string;
}

/** A checkpoint read back: the snapshot to resume from (the caller disposes its tensors) and the configuration it was written with. */
export interface LoadedCheckpoint {
  readonly snapshot: DataFreeDistillSnapshot;
  readonly configuration: Record<string, unknown>;
}

function stateFileName(round: number): string {
  return `state-${String(round).padStart(6, '0')}.safetensors`;
}

/**
 * Writes `snapshot` into `folder`: missing pool batches first, then the tensors, then
 * checkpoint.json naming them; older tensor files are removed after.
 */
export async function saveDataFreeCheckpoint(
  folder: string,
  snapshot: DataFreeDistillSnapshot,
  configuration: Record<string, unknown>,
): Promise<void> {
  const poolFolder = path.join(folder, POOL_DIR);
  await fs.mkdir(poolFolder, { recursive: true });
  for (const batch of snapshot.pool) {
    const file = dataset.batchFilePath(poolFolder, batch.index);
    if (!(await exists(file))) await dataset.writeBatch(poolFolder, batch, { png: false, grid: false });
  }
  await writePoolManifest(poolFolder, snapshot.pool, configuration);
  const tensors: Record<string, Awaited<ReturnType<typeof tensorToRaw>>> = {};
  for (const [name, t] of Object.entries(snapshot.tensors)) tensors[name] = await tensorToRaw(t);
  const stateFile = stateFileName(snapshot.json.round);
  await files.writeSafetensorsFile(path.join(folder, stateFile), tensors);
  const checkpoint: CheckpointFile = {
    format: 'natinv-kd-checkpoint',
    version: 1,
    configuration,
    progress: snapshot.json,
    tensors: stateFile,
  };
  await files.writeFileAtomic(path.join(folder, CHECKPOINT_FILE), new TextEncoder().encode(`${JSON.stringify(checkpoint, null, 2)}\n`));
  for (const name of await fs.readdir(folder)) {
    if (/^state-\d+\.safetensors$/.test(name) && name !== stateFile) await fs.rm(path.join(folder, name), { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** The pool folder's manifest: every batch file present is listed as finished. */
async function writePoolManifest(
  poolFolder: string,
  pool: readonly SynthesizedBatch[],
  configuration: Record<string, unknown>,
): Promise<void> {
  const finished = (await dataset.listBatchFiles(poolFolder)).indices;
  let created = new Date().toISOString();
  try {
    created = (await dataset.readManifest(poolFolder)).created;
  } catch {
    // First write: no manifest yet.
  }
  const newest = pool[pool.length - 1];
  await dataset.writeManifest(poolFolder, {
    format: 'natinv-dataset',
    version: dataset.DATASET_FORMAT_VERSION,
    configuration: { ...configuration, loop: 'dataFreeDistill' },
    batches: finished.length === 0 ? 0 : finished[finished.length - 1] + 1,
    batchSize: newest?.shape[0] ?? null,
    imageShape: newest == null ? null : [newest.shape[1], newest.shape[2], newest.shape[3]],
    created,
    updated: new Date().toISOString(),
    finished,
  });
}

/** Reads the checkpoint in `folder`; undefined when there is none yet. */
export async function loadDataFreeCheckpoint(folder: string): Promise<LoadedCheckpoint | undefined> {
  const file = path.join(folder, CHECKPOINT_FILE);
  if (!(await exists(file))) return undefined;
  let checkpoint: CheckpointFile;
  try {
    checkpoint = JSON.parse(await fs.readFile(file, 'utf8')) as CheckpointFile;
  } catch (cause) {
    throw new Error(`cannot read the checkpoint ${file}: ${(cause as Error).message}. Delete the folder to start over.`);
  }
  if (checkpoint.format !== 'natinv-kd-checkpoint' || checkpoint.version !== 1) {
    throw new Error(`${file} is not a natinv data-free distillation checkpoint (format natinv-kd-checkpoint, version 1).`);
  }
  const stored = await files.readSafetensorsFile(path.join(folder, checkpoint.tensors));
  const pool: SynthesizedBatch[] = [];
  for (const index of checkpoint.progress.pool) {
    pool.push(await dataset.readBatch(dataset.batchFilePath(path.join(folder, POOL_DIR), index)));
  }
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, raw] of Object.entries(stored.tensors)) tensors[name] = rawToTensor(raw);
  return { snapshot: { json: checkpoint.progress, tensors, pool }, configuration: checkpoint.configuration };
}
