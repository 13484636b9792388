/**
 * A folder that holds a {@link dataFreeDistill} run's checkpoint (Node only): the pool as a
 * dataset folder (`pool/`, each batch written once), the tensors of the latest snapshot
 * (`state-RRRRRR.safetensors`) and `checkpoint.json`, written last and atomically, naming them.
 * A process killed at any point leaves the previous complete checkpoint readable.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as dataset from '../dataset';
import { readSnapshotFiles, SnapshotRecord, writeSnapshotFiles } from './snapshot-files';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { DataFreeDistillProgress, DataFreeDistillSnapshot } from './data-free-distill';

/** The file naming the latest complete checkpoint. */
export const CHECKPOINT_FILE = 'checkpoint.json';
/** The pool's dataset folder inside the checkpoint folder. */
export const POOL_DIR = 'pool';

const FORMAT = { format: 'natinv-kd-checkpoint', version: 1 } as const;

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
  const checkpoint: SnapshotRecord<DataFreeDistillProgress> = {
    ...FORMAT,
    configuration,
    progress: snapshot.json,
    tensors: stateFileName(snapshot.json.round),
  };
  await writeSnapshotFiles(folder, CHECKPOINT_FILE, checkpoint, snapshot.tensors, /^state-\d+\.safetensors$/);
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
  const read = await readSnapshotFiles<DataFreeDistillProgress>(folder, CHECKPOINT_FILE, FORMAT, 'data-free distillation checkpoint');
  if (read === undefined) return undefined;
  const { record, tensors } = read;
  const pool: SynthesizedBatch[] = [];
  for (const index of record.progress.pool) {
    pool.push(await dataset.readBatch(dataset.batchFilePath(path.join(folder, POOL_DIR), index)));
  }
  return { snapshot: { json: record.progress, tensors, pool }, configuration: record.configuration };
}
