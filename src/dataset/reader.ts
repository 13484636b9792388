/**
 * Reading dataset folders: the manifest, single batch files, which batches are finished, and a
 * whole dataset as concatenated arrays. Node only.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { RunRecord } from '../synthesis/run-record';
import {
  BATCHES_DIR,
  DatasetManifest,
  MANIFEST_FILE,
  batchFilePath,
  isTempFileName,
  parseBatch,
  parseBatchFileName,
  validateManifest,
} from './format';

/**
 * A batch file that exists but cannot be used: truncated, not safetensors, wrong contents, or
 * holding another index than its name says. Delete it and rerun the synthesis to regenerate it.
 */
export class CorruptBatchError extends Error {
  constructor(
    /** The offending file. */
    readonly file: string,
    /** What is wrong with it. */
    readonly reason: string,
  ) {
    super(`batch file ${file} is corrupt (${reason}); delete it and rerun the synthesis to regenerate it.`);
    this.name = 'CorruptBatchError';
  }
}

function errorCode(cause: unknown): string | undefined {
  return (cause as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Reads `<folder>/manifest.json`. Throws if it is missing (the folder is not a natinv dataset, or
 * its run never started), not JSON, or not a valid manifest.
 */
export async function readManifest(folder: string): Promise<DatasetManifest> {
  const file = path.join(folder, MANIFEST_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (cause) {
    if (errorCode(cause) === 'ENOENT') {
      throw new Error(
        `no ${MANIFEST_FILE} in ${folder}: it is not a natinv dataset folder, or its run has not started. ` +
          'Point at the folder given to synthesizeToFolder (or mergeDatasets).',
      );
    }
    throw new Error(`cannot read dataset manifest ${file}: ${(cause as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new Error(
      `dataset manifest ${file} is not valid JSON (${(cause as Error).message}); fix or delete it (deleting it means starting the run over).`,
    );
  }
  return validateManifest(value, file);
}

/** Options of {@link readBatch}. */
export interface ReadBatchOptions {
  /** The index the file must hold (checked against its metadata). Default: none checked. */
  expectedIndex?: number;
}

/**
 * Reads one batch file (`batches/batch-NNNNNN.safetensors`). Throws {@link CorruptBatchError} if
 * the file exists but does not parse or holds inconsistent contents, and a plain Error if it
 * cannot be read (missing, permissions).
 */
export async function readBatch(file: string, options: ReadBatchOptions = {}): Promise<SynthesizedBatch> {
  return (await readBatchFile(file, options)).batch;
}

/** {@link readBatch}, also returning the file's bytes (mergeDatasets compares and copies them). */
export async function readBatchFile(file: string, options: ReadBatchOptions = {}): Promise<{ batch: SynthesizedBatch; bytes: Uint8Array }> {
  let bytes: Uint8Array;
  try {
    const buffer = await fs.readFile(file);
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (cause) {
    throw new Error(`cannot read batch file ${file}: ${(cause as Error).message}`);
  }
  let batch: SynthesizedBatch;
  try {
    batch = parseBatch(bytes);
  } catch (cause) {
    throw new CorruptBatchError(file, (cause as Error).message.replace(/\.$/, ''));
  }
  if (options.expectedIndex !== undefined && batch.index !== options.expectedIndex) {
    throw new CorruptBatchError(file, `it holds batch ${batch.index}, but its name says batch ${options.expectedIndex}`);
  }
  return { batch, bytes };
}

/** Batch files by name in `<folder>/batches`, and leftover temporary files there. */
export interface BatchFileListing {
  /** Indices with a `batch-NNNNNN.safetensors` file, ascending (not parsed). */
  indices: number[];
  /** Paths of temporary files left by interrupted atomic writes. */
  temporary: string[];
}

/** Lists `<folder>/batches` by file name only (cheap: nothing is read). A missing folder lists nothing. */
export async function listBatchFiles(folder: string): Promise<BatchFileListing> {
  const dir = path.join(folder, BATCHES_DIR);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (cause) {
    if (errorCode(cause) === 'ENOENT') return { indices: [], temporary: [] };
    throw new Error(`cannot list batch files in ${dir}: ${(cause as Error).message}`);
  }
  const indices: number[] = [];
  const temporary: string[] = [];
  for (const name of names.sort()) {
    const index = parseBatchFileName(name);
    if (index !== undefined) indices.push(index);
    else if (isTempFileName(name)) temporary.push(path.join(dir, name));
  }
  return { indices: indices.sort((a, b) => a - b), temporary };
}

/** Options of {@link finishedBatches}. */
export interface FinishedBatchesOptions {
  /**
   * Parse every batch file (true), or trust file names (false: faster on large datasets; safe
   * when the files were written by natinv on a local file system, where renames are atomic).
   * Default true.
   */
  verify?: boolean;
}

/** A batch file that exists but is not usable. */
export interface CorruptBatch {
  index: number;
  file: string;
  reason: string;
}

/** Result of {@link finishedBatches}. */
export interface FinishedBatches {
  /** Indices whose batch file exists and parses, ascending. */
  finished: number[];
  /** Batch files that exist but do not parse: not finished; delete and redo them. */
  corrupt: CorruptBatch[];
  /** Temporary files left by interrupted writes in `batches/`: ignored, safe to delete. */
  temporary: string[];
}

/**
 * Which batches of a dataset folder are finished: those whose batch file exists and parses (and
 * holds the index its name says). Half-written or damaged files are reported in `corrupt`;
 * leftover temporary files are listed in `temporary` and never count. Reads nothing else.
 */
export async function finishedBatches(folder: string, options: FinishedBatchesOptions = {}): Promise<FinishedBatches> {
  const verify = options.verify ?? true;
  const listing = await listBatchFiles(folder);
  const finished: number[] = [];
  const corrupt: CorruptBatch[] = [];
  for (const index of listing.indices) {
    const file = batchFilePath(folder, index);
    if (!verify) {
      finished.push(index);
      continue;
    }
    try {
      await readBatch(file, { expectedIndex: index });
      finished.push(index);
    } catch (cause) {
      if (!(cause instanceof CorruptBatchError)) throw cause;
      corrupt.push({ index, file, reason: cause.reason });
    }
  }
  return { finished, corrupt, temporary: listing.temporary };
}

/** Options of {@link readDataset}. */
export interface ReadDatasetOptions {
  /** Throw if any planned batch (0 .. manifest.batches - 1) is missing. Default false. */
  requireComplete?: boolean;
}

/** A dataset folder read into memory. */
export interface Dataset {
  manifest: DatasetManifest;
  /** Every batch present, sorted by index; each carries the run record (`run`) when the manifest holds one. */
  batches: SynthesizedBatch[];
  /** All images, NHWC in [0, 1], batches concatenated in index order. */
  images01: Float32Array;
  /** All targets, in the same order. */
  targets: Int32Array;
  /** Number of images. */
  count: number;
  /** [count, height, width, channels]. */
  shape: [number, number, number, number];
  /** Planned batch indices without a batch file, ascending. */
  missing: number[];
}

/** The run record a manifest holds (written by a configured run), if any. */
function recordedRun(manifest: DatasetManifest): RunRecord | undefined {
  const { synthesis, teacher, backend, natinv } = manifest.configuration as Partial<Record<keyof RunRecord, unknown>>;
  if (synthesis === undefined || typeof teacher !== 'object' || typeof backend !== 'string' || typeof natinv !== 'string') return undefined;
  return { synthesis, teacher, backend, natinv } as RunRecord;
}

function withRecord(batch: SynthesizedBatch, run: RunRecord | undefined): SynthesizedBatch {
  return run === undefined ? batch : { ...batch, run };
}

/**
 * Reads a whole dataset folder: the manifest and every batch file, concatenated in index order.
 * Throws, naming the file, when the manifest is missing or invalid, a batch file is corrupt
 * (delete it and rerun to regenerate it), a batch the manifest lists as finished has no file,
 * batches disagree on the image size, or (with `requireComplete`) planned batches are missing.
 */
export async function readDataset(folder: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  const manifest = await readManifest(folder);
  const run = recordedRun(manifest);
  const { indices } = await listBatchFiles(folder);
  const present = new Set(indices);
  const lost = manifest.finished.filter((i) => !present.has(i));
  if (lost.length > 0) {
    throw new Error(
      `dataset ${folder}: the manifest lists batch ${lost[0]} as finished but ${batchFilePath(folder, lost[0])} is missing` +
        `${lost.length > 1 ? ` (and ${lost.length - 1} more)` : ''}; rerun the synthesis on this folder to regenerate missing batches.`,
    );
  }
  const missing: number[] = [];
  for (let i = 0; i < manifest.batches; i++) if (!present.has(i)) missing.push(i);
  if (options.requireComplete === true && missing.length > 0) {
    throw new Error(
      `dataset ${folder} is incomplete: ${missing.length} of ${manifest.batches} planned batches are missing ` +
        `(first: ${missing.slice(0, 5).join(', ')}); rerun the synthesis on this folder to finish it.`,
    );
  }

  const batches: SynthesizedBatch[] = [];
  let count = 0;
  for (const index of indices) {
    const file = batchFilePath(folder, index);
    const batch = withRecord(await readBatch(file, { expectedIndex: index }), run);
    const expected = manifest.imageShape;
    if (expected !== null && (batch.shape[1] !== expected[0] || batch.shape[2] !== expected[1] || batch.shape[3] !== expected[2])) {
      throw new Error(
        `dataset ${folder}: ${file} holds ${describeImages(batch)} images but the manifest says ${expected.join('x')}; ` +
          'a dataset folder holds one run. Move the stray batch file out of the folder.',
      );
    }
    const first = batches[0];
    if (first !== undefined && !sameImageShape(first, batch)) {
      throw new Error(
        `dataset ${folder}: ${file} holds ${describeImages(batch)} images but batch ${first.index} holds ` +
          `${describeImages(first)}; a dataset folder holds one run. Move the stray batch file out of the folder.`,
      );
    }
    batches.push(batch);
    count += batch.shape[0];
  }
  const [height, width, channels] = batches.length > 0 ? batches[0].shape.slice(1) : (manifest.imageShape ?? [0, 0, 0]);
  const imageSize = height * width * channels;
  const images01 = new Float32Array(count * imageSize);
  const targets = new Int32Array(count);
  let offset = 0;
  for (const batch of batches) {
    images01.set(batch.images01, offset * imageSize);
    targets.set(batch.targets, offset);
    offset += batch.shape[0];
  }
  return { manifest, batches, images01, targets, count, shape: [count, height, width, channels], missing };
}

function sameImageShape(a: SynthesizedBatch, b: SynthesizedBatch): boolean {
  return a.shape[1] === b.shape[1] && a.shape[2] === b.shape[2] && a.shape[3] === b.shape[3];
}

function describeImages(batch: SynthesizedBatch): string {
  return `${batch.shape[1]}x${batch.shape[2]}x${batch.shape[3]}`;
}
