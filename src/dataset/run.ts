/**
 * Runs a trainer into a dataset folder so that the run survives interruption: every finished
 * batch is committed as it arrives, and a rerun asks the trainer only for the batches still
 * missing. Node only.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { SynthesizedBatch } from '../synthesis/batch';
import { assertPlainJson, canonicalJson, describeDifferences, diffConfigurations } from './configuration';
import {
  BATCHES_DIR,
  batchFilePath,
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  DatasetManifest,
  GRIDS_DIR,
  IMAGES_DIR,
  MANIFEST_FILE,
  STATE_DIR,
  isTempFileName,
  parseBatchTempFileName,
} from './format';
import { commit } from '../util/commits';
import { finishedBatches, listBatchFiles, readBatch, readManifest } from './reader';
import { Shard, shardBatches, WHOLE_RUN, validateShard } from './shard';
import { writeBatch, writeManifest } from './writer';

/**
 * Produces the batches with the given indices, in any order, each exactly once. natinv's trainers
 * (`deepInversion(teacher, { ...options, batchIndices })` and friends) fit once wrapped:
 * `(indices, signal) => naturalInversion(teacher, { ...options, batchIndices: indices, signal })`.
 */
export type BatchTrainer = (batchIndices: number[], signal?: AbortSignal) => AsyncIterable<SynthesizedBatch>;

/** Progress passed to {@link SynthesizeToFolderOptions.onBatch}. */
export interface FolderProgress {
  /** Batches of this shard present in the folder, counting the ones found there at the start. */
  done: number;
  /** Batches this shard owns. */
  total: number;
}

/** Options of {@link synthesizeToFolder}. */
export interface SynthesizeToFolderOptions {
  /** Dataset folder; created if needed, resumed if it holds this run already. */
  folder: string;
  /** Planned number of batches in the whole run (indices 0 .. batches - 1). */
  batches: number;
  /** The part of the run this process owns: indices with index % count === index. Default 0/1 (all). */
  shard?: Shard;
  /**
   * The run's configuration as plain JSON (method, teacher name, normalization, options...),
   * stored in the manifest. A folder holding a different configuration is refused.
   */
  configuration: Record<string, unknown>;
  /** Makes the batches; called at most once, with exactly the missing indices this shard owns. */
  trainer: BatchTrainer;
  /** Class names for PNG file names and grid captions (see writeBatch). Default: class indices. */
  classNames?: readonly string[];
  /** Write per-image PNGs. Default true. */
  png?: boolean;
  /** Write a labelled grid per batch. Default true. */
  grid?: boolean;
  /**
   * Images per batch, checked on every batch. Default: `configuration.batchSize` when it is a
   * positive integer, else the size of the first batch written.
   */
  batchSize?: number;
  /**
   * When the folder holds another run (a different configuration or batch size, an unreadable
   * manifest, or batch files without a manifest): delete that dataset (manifest.json, batches/,
   * images/, grids/, state/; nothing else in the folder) and start over. The same run is resumed either
   * way. Default false: refuse with an error naming the differences.
   */
  overwrite?: boolean;
  /** Stops the run after the batch in progress (that batch is still written if it arrives). */
  signal?: AbortSignal;
  /** Called after each batch is committed. */
  onBatch?: (batch: SynthesizedBatch, progress: FolderProgress) => void;
}

/** What {@link synthesizeToFolder} did. */
export interface FolderSummary {
  /** Batches written by this call, in the order they arrived. */
  written: number[];
  /** Batches of this shard that were already finished in the folder, ascending. */
  skipped: number[];
  /** Batches of this shard whose files were corrupt; they were deleted and given to the trainer again. */
  corrupt: number[];
  /** True when `signal` stopped the run before every owned batch was written. */
  aborted: boolean;
}

// A manifest write takes milliseconds; an older temp manifest is a leftover, not a write in flight.
const STALE_TEMP_MS = 60_000;

function now(): string {
  return new Date().toISOString();
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function checkOptions(options: SynthesizeToFolderOptions): Shard {
  const where = 'synthesizeToFolder';
  if (typeof options.folder !== 'string' || options.folder === '') throw new Error(`${where}: folder must be a non-empty path.`);
  if (!Number.isSafeInteger(options.batches) || options.batches < 1) {
    throw new Error(`${where}: batches must be a positive integer, got ${options.batches}.`);
  }
  if (typeof options.trainer !== 'function')
    throw new Error(`${where}: trainer must be a function (batchIndices, signal) => AsyncIterable<SynthesizedBatch>.`);
  if (typeof options.configuration !== 'object' || options.configuration === null || Array.isArray(options.configuration)) {
    throw new Error(`${where}: configuration must be a plain JSON object.`);
  }
  assertPlainJson(options.configuration, where);
  if (options.batchSize !== undefined && (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1)) {
    throw new Error(`${where}: batchSize must be a positive integer, got ${options.batchSize}.`);
  }
  return validateShard(options.shard ?? WHOLE_RUN, `${where}: shard`);
}

function plannedBatchSize(options: SynthesizeToFolderOptions): number | null {
  if (options.batchSize !== undefined) return options.batchSize;
  const fromConfiguration = options.configuration.batchSize;
  return typeof fromConfiguration === 'number' && Number.isSafeInteger(fromConfiguration) && fromConfiguration > 0
    ? fromConfiguration
    : null;
}

/**
 * The configuration with the files a batch gets when they differ from the default: a folder
 * written without PNGs is then another run than one with them, so the two never mix.
 */
function withFileKinds(options: SynthesizeToFolderOptions): Record<string, unknown> {
  return {
    ...options.configuration,
    ...(options.png === false ? { png: false } : {}),
    ...(options.grid === false ? { grid: false } : {}),
  };
}

/** Removes natinv's entries from a folder (never anything else in it). */
async function clearDataset(folder: string): Promise<void> {
  for (const entry of [MANIFEST_FILE, BATCHES_DIR, IMAGES_DIR, GRIDS_DIR, STATE_DIR]) {
    await fs.rm(path.join(folder, entry), { recursive: true, force: true });
  }
}

/**
 * Thrown when a folder holds another run (or something unreadable) and `overwrite` was not given.
 * `conflict` says what is there without the remedy, for callers that phrase their own (the CLI's
 * `--overwrite`).
 */
export class FolderConflictError extends Error {
  constructor(
    readonly folder: string,
    readonly conflict: string,
  ) {
    super(
      `synthesizeToFolder: ${conflict}\nUse a new folder for this run, or pass overwrite: true to delete the old batches and start over.`,
    );
    this.name = 'FolderConflictError';
  }
}

/**
 * Creates the folder's manifest, or checks the existing one against this run (refusing a
 * different configuration or batch size unless `overwrite`), and returns the manifest to keep.
 */
async function openDataset(options: SynthesizeToFolderOptions): Promise<DatasetManifest> {
  const { folder } = options;
  const configuration = canonicalJson(withFileKinds(options)) as Record<string, unknown>;
  const batchSize = plannedBatchSize(options);
  const stat = await fs.stat(folder).catch(() => undefined);
  if (stat !== undefined && !stat.isDirectory()) {
    throw new Error(`synthesizeToFolder: ${folder} is a file, not a folder; give the path of a folder (it is created if missing).`);
  }
  await fs.mkdir(folder, { recursive: true });
  let conflict: string | undefined;
  if (await exists(path.join(folder, MANIFEST_FILE))) {
    let old: DatasetManifest | undefined;
    try {
      old = await readManifest(folder);
    } catch (cause) {
      conflict = (cause as Error).message;
    }
    if (old !== undefined) {
      const differences = diffConfigurations(old.configuration, configuration);
      if (differences.length > 0) {
        conflict =
          `${folder} already holds a dataset made with a different configuration:\n` +
          describeDifferences(differences, 'the folder', 'this run');
      } else if (batchSize !== null && old.batchSize !== null && old.batchSize !== batchSize) {
        conflict = `${folder} holds batches of ${old.batchSize} images but this run makes batches of ${batchSize}.`;
      } else {
        // The same run: resume. The plan may grow or shrink, since batch i depends only on (seed, i).
        return { ...old, configuration, batches: options.batches, batchSize: old.batchSize ?? batchSize };
      }
    }
  } else if ((await listBatchFiles(folder)).indices.length > 0) {
    conflict = `${folder} has batch files but no ${MANIFEST_FILE}, so they cannot be checked against this run.`;
  }
  if (conflict !== undefined) {
    if (options.overwrite !== true) throw new FolderConflictError(folder, conflict);
    await clearDataset(folder);
  }
  const time = now();
  return {
    format: DATASET_FORMAT,
    version: DATASET_FORMAT_VERSION,
    configuration,
    batches: options.batches,
    batchSize,
    imageShape: null,
    created: time,
    updated: time,
    finished: [],
  };
}

/** Deletes leftovers of interrupted writes that belong to batches this process will write. */
async function removeLeftovers(folder: string, pending: ReadonlySet<number>): Promise<void> {
  for (const dir of [BATCHES_DIR, GRIDS_DIR]) {
    const names = await fs.readdir(path.join(folder, dir)).catch(() => [] as string[]);
    for (const name of names) {
      const index = parseBatchTempFileName(name);
      if (index !== undefined && pending.has(index)) await fs.rm(path.join(folder, dir, name), { force: true });
    }
  }
  for (const name of await fs.readdir(folder)) {
    if (!isTempFileName(name) || !name.startsWith(`.${MANIFEST_FILE}.`)) continue;
    const file = path.join(folder, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat !== undefined && Date.now() - stat.mtimeMs > STALE_TEMP_MS) await fs.rm(file, { force: true });
  }
}

/**
 * Synthesizes a dataset into `folder`, resumably: batches already finished there are skipped,
 * the trainer is asked for exactly the missing batches this shard owns, and each batch is
 * committed (PNGs, grid, then its batch file, then the manifest) as soon as it arrives. Kill the
 * process at any point and rerun the same call: every batch ends up present exactly once.
 *
 * Refuses, naming the differing keys, a folder whose manifest holds a different configuration
 * (or batch size), unless `overwrite: true`. Corrupt batch files of this shard are deleted and
 * redone. Throws if the trainer yields a batch it was not asked for (or twice), a batch of the
 * wrong size, or ends without yielding every batch asked for; batches written until then stay.
 * An abort through `signal` is not an error: the summary says `aborted: true`.
 */
export async function synthesizeToFolder(options: SynthesizeToFolderOptions): Promise<FolderSummary> {
  const shard = checkOptions(options);
  const { folder, signal } = options;
  // A function, not a field read, so the compiler does not narrow it across awaits.
  const aborted = (): boolean => signal?.aborted === true;
  const hadManifest = await exists(path.join(folder, MANIFEST_FILE));
  const manifest = await openDataset(options);

  const found = await finishedBatches(folder);
  const finished = new Set(found.finished);
  const owned = shardBatches(shard, options.batches);
  const skipped = owned.filter((i) => finished.has(i));
  const pendingList = owned.filter((i) => !finished.has(i));
  const pending = new Set(pendingList);
  const corrupt = found.corrupt.filter((c) => pending.has(c.index));
  // Corrupt files of other shards are theirs to redo; never list them as finished.
  const unusable = new Set(found.corrupt.map((c) => c.index));
  for (const c of corrupt) await fs.rm(c.file, { force: true });
  await removeLeftovers(folder, pending);
  // What the folder's batches were made by; every new batch must come from the same run.
  let runOfBatches = found.finished.length > 0 ? batchRun(await readBatch(batchFilePath(folder, found.finished[0]))) : undefined;

  const commitManifest = async (): Promise<void> => {
    // Rebuilt from the folder, so shards sharing one folder do not drop each other's batches; and
    // written again if a batch was committed meanwhile, so the last write of all lists every batch.
    let listed: string | undefined;
    for (;;) {
      const finished = (await listBatchFiles(folder)).indices.filter((i) => !unusable.has(i));
      if (listed === JSON.stringify(finished)) return;
      listed = JSON.stringify(finished);
      manifest.finished = finished;
      manifest.updated = now();
      await writeManifest(folder, manifest);
    }
  };
  await commitManifest();

  const summary: FolderSummary = { written: [], skipped, corrupt: corrupt.map((c) => c.index), aborted: false };
  if (pendingList.length === 0) return summary;
  if (aborted()) return { ...summary, aborted: true };

  const batches = options.trainer([...pendingList], signal)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<SynthesizedBatch>;
      try {
        next = await batches.next();
      } catch (error) {
        // A trainer that honours the signal stops by throwing; that is the abort, not a failure.
        if (aborted()) return { ...summary, aborted: true };
        throw error;
      }
      if (next.done === true) break;
      const batch = next.value;
      if (!pending.has(batch.index)) {
        const why = summary.written.includes(batch.index) ? 'a second time' : 'but it was not asked for';
        throw new Error(
          `synthesizeToFolder: the trainer yielded batch ${batch.index} ${why} (asked for ${pendingList.join(', ')}); ` +
            'a trainer must yield exactly the batch indices it is given, once each.',
        );
      }
      checkBatchShape(manifest, batch);
      const run = batchRun(batch);
      if (runOfBatches !== undefined && run !== runOfBatches) {
        throw new Error(
          `synthesizeToFolder: batch ${batch.index} was made by ${run} but the batches in ${folder} by ${runOfBatches}; ` +
            'a dataset folder holds one run. Give each run its own configuration (the trainer options belong in it) or folder.',
        );
      }
      runOfBatches = run;
      // A commit: the CLI's second Ctrl-C waits for it rather than lose a finished batch.
      await commit(async () => {
        await writeBatch(folder, batch, { classNames: options.classNames, png: options.png, grid: options.grid });
        pending.delete(batch.index);
        unusable.delete(batch.index);
        summary.written.push(batch.index);
        manifest.batchSize ??= batch.shape[0];
        manifest.imageShape ??= [batch.shape[1], batch.shape[2], batch.shape[3]];
        await commitManifest();
      });
      options.onBatch?.(batch, { done: skipped.length + summary.written.length, total: owned.length });
      if (aborted()) break;
    }
  } catch (error) {
    if (!hadManifest && summary.written.length === 0) await forgetEmptyDataset(folder);
    throw error;
  } finally {
    // Stopping early (abort or error) lets a generator trainer run its cleanup (dispose tensors).
    if (pending.size > 0) {
      try {
        await batches.return?.();
      } catch {
        // Its cleanup failing must not hide why the run stopped.
      }
    }
  }
  if (pending.size > 0) {
    if (aborted()) return { ...summary, aborted: true };
    const left = [...pending].sort((a, b) => a - b);
    throw new Error(
      `synthesizeToFolder: the trainer ended without yielding batch${left.length > 1 ? 'es' : ''} ${left.join(', ')}; ` +
        `the ${summary.written.length} batches it did yield are saved. Rerun to make the rest.`,
    );
  }
  return summary;
}

/** The run a batch says it belongs to: method, teacher, seed and steps. */
function batchRun(batch: SynthesizedBatch): string {
  return `${batch.method} of ${batch.teacher} (seed ${batch.seed}, ${batch.steps} steps)`;
}

/**
 * After a run that failed before its first batch (a teacher the method cannot use, too little
 * memory): removes the manifest this run created, if the folder still holds no batch at all, so
 * the corrected command starts there without --overwrite.
 */
async function forgetEmptyDataset(folder: string): Promise<void> {
  if ((await listBatchFiles(folder)).indices.length === 0) await fs.rm(path.join(folder, MANIFEST_FILE), { force: true });
}

function checkBatchShape(manifest: DatasetManifest, batch: SynthesizedBatch): void {
  const [count, height, width, channels] = batch.shape;
  if (manifest.batchSize !== null && count !== manifest.batchSize) {
    throw new Error(
      `synthesizeToFolder: batch ${batch.index} has ${count} images but the dataset's batches have ${manifest.batchSize}; ` +
        "check the trainer's batchSize against the configuration's.",
    );
  }
  const shape = manifest.imageShape;
  if (shape !== null && (shape[0] !== height || shape[1] !== width || shape[2] !== channels)) {
    throw new Error(
      `synthesizeToFolder: batch ${batch.index} holds ${height}x${width}x${channels} images but the dataset holds ` +
        `${shape.join('x')}; a dataset folder holds one run.`,
    );
  }
}
