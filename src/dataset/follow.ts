/**
 * Following a dataset folder while shards are still writing it: its batches in index order, each
 * read once, as soon as it is committed. Node only.
 *
 * A batch is committed when its `batches/batch-NNNNNN.safetensors` file appears: writeBatch renames
 * that file into place last, after the batch's PNGs and grid, so a file under its final name is
 * whole. Temporary files of writes in flight have other names and are never read.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { SynthesizedBatch } from '../synthesis/batch';
import { describeDifferences, diffConfigurations } from './configuration';
import { DatasetManifest, MANIFEST_FILE, batchFilePath } from './format';
import { readBatch, readManifest } from './reader';

/** Options of {@link followDataset}. */
export interface FollowDatasetOptions {
  /** Milliseconds between two looks at the folder while the next batch is missing. Default 2000. */
  readonly pollInterval?: number;
  /**
   * Fail when the manifest or the next batch has not appeared for this many milliseconds (the
   * shards writing the folder may have stopped for good). Default: wait as long as it takes.
   */
  readonly idleTimeout?: number;
  /** Stops waiting: the batches then end early, without an error (check `signal.aborted`). */
  readonly signal?: AbortSignal;
  /** Called on every look that finds the next batch still missing (`next` is its index). */
  readonly onWait?: (next: number, planned: number) => void;
}

/** A dataset folder being followed: its plan, and its batches as they are committed. */
export interface FollowedDataset {
  readonly folder: string;
  /** The manifest when batch 0 was found. */
  readonly manifest: DatasetManifest;
  /** Planned batches of the run (the manifest's `batches`): indices 0 .. planned - 1. */
  readonly planned: number;
  /** Images per batch. */
  readonly batchSize: number;
  /** [height, width, channels] of every image. */
  readonly imageShape: readonly [number, number, number];
  /**
   * Batches 0, 1, 2, ... in index order, each read once when its file is committed; ends after
   * the last planned batch (or early, when `signal` aborts). Iterate it once.
   */
  readonly batches: AsyncIterable<SynthesizedBatch>;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function checkOptions(options: FollowDatasetOptions): { pollInterval: number; idleTimeout: number } {
  const pollInterval = options.pollInterval ?? 2000;
  const idleTimeout = options.idleTimeout ?? Infinity;
  if (!(Number.isFinite(pollInterval) && pollInterval > 0)) {
    throw new Error(`followDataset: pollInterval must be a positive number of milliseconds, got ${pollInterval}.`);
  }
  if (!(idleTimeout > 0)) {
    throw new Error(`followDataset: idleTimeout must be a positive number of milliseconds (or Infinity), got ${idleTimeout}.`);
  }
  return { pollInterval, idleTimeout };
}

function describeWait(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * Follows the dataset folder `folder` while a run (typically the shards of a Kubernetes Indexed
 * Job sharing one volume) writes it: waits until its manifest and batch 0 exist, then returns the
 * run's plan and an async iterable of its batches in index order. Each batch is read once, when
 * its batch file is committed, and checked (it parses, holds its index, has the run's batch size
 * and image shape); a missing batch is waited for, looking again every `pollInterval` ms.
 *
 * Resolves to undefined when `signal` aborts before batch 0 appears.
 *
 * Throws, naming the folder and what to do, when nothing new appears for `idleTimeout` ms, when
 * the manifest's plan changes while following (another run was started in the folder), or when a
 * committed batch file is corrupt (CorruptBatchError).
 */
export async function followDataset(folder: string, options: FollowDatasetOptions = {}): Promise<FollowedDataset | undefined> {
  if (typeof folder !== 'string' || folder === '') throw new Error('followDataset: folder must be a non-empty path.');
  const { pollInterval, idleTimeout } = checkOptions(options);
  const { signal } = options;
  let lastProgress = Date.now();
  const stalled = (what: string): Error =>
    new Error(
      `followDataset: ${what} has not appeared in ${folder} for ${describeWait(idleTimeout)}; the run writing it may have ` +
        'stopped (check the synthesis job, then rerun it on this folder), or give a longer idle timeout.',
    );

  // The manifest and batch 0 tell the plan, the batch size and the image shape.
  while (!(await exists(path.join(folder, MANIFEST_FILE))) || !(await exists(batchFilePath(folder, 0)))) {
    if (signal?.aborted === true) return undefined;
    if (Date.now() - lastProgress > idleTimeout) throw stalled(`${MANIFEST_FILE} or batch 0`);
    options.onWait?.(0, 0);
    await pause(pollInterval, signal);
  }
  const manifest = await readManifest(folder);
  const first = await readBatch(batchFilePath(folder, 0), { expectedIndex: 0 });
  lastProgress = Date.now();
  const [batchSize, height, width, channels] = first.shape;
  const planned = manifest.batches;
  const imageShape: [number, number, number] = [height, width, channels];

  const check = (batch: SynthesizedBatch): SynthesizedBatch => {
    const [n, h, w, c] = batch.shape;
    if (n !== batchSize || h !== height || w !== width || c !== channels) {
      throw new Error(
        `followDataset: ${batchFilePath(folder, batch.index)} holds ${n} images of ${h}x${w}x${c}, but batch 0 holds ` +
          `${batchSize} of ${height}x${width}x${channels}; a dataset folder holds one run. Move the stray batch file out.`,
      );
    }
    return batch;
  };
  // Shards rewrite the manifest as they commit; only another run changes its plan or configuration.
  const checkPlan = async (): Promise<void> => {
    const now = await readManifest(folder);
    const differences = diffConfigurations(manifest.configuration, now.configuration);
    if (now.batches !== planned || differences.length > 0) {
      const what =
        differences.length > 0
          ? `its configuration:\n${describeDifferences(differences, 'the run followed', 'the folder now')}\n`
          : `its plan from ${planned} to ${now.batches} batches; `;
      throw new Error(`followDataset: the run in ${folder} changed ${what}follow the new run from the start.`);
    }
  };

  async function* batches(): AsyncGenerator<SynthesizedBatch> {
    yield check(first);
    for (let next = 1; next < planned; next++) {
      const file = batchFilePath(folder, next);
      while (!(await exists(file))) {
        if (signal?.aborted === true) return;
        await checkPlan();
        if (Date.now() - lastProgress > idleTimeout) throw stalled(`batch ${next} of ${planned}`);
        options.onWait?.(next, planned);
        await pause(pollInterval, signal);
      }
      const batch = check(await readBatch(file, { expectedIndex: next }));
      lastProgress = Date.now();
      yield batch;
    }
  }
  return { folder, manifest, planned, batchSize, imageShape, batches: batches() };
}
