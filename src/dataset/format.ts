/**
 * The dataset folder format: file names, the manifest's shape, and the encoding of one
 * {@link SynthesizedBatch} as a safetensors file. Pure (no file system); writer.ts and reader.ts
 * do the I/O.
 *
 * ```
 * <folder>/manifest.json                          run configuration, plan, finished indices
 * <folder>/batches/batch-000012.safetensors       one per finished batch (its commit marker)
 * <folder>/images/batch-000012/0003-cat.png       one per image
 * <folder>/grids/batch-000012.png                 a labelled grid per batch
 * ```
 */
import * as path from 'path';
import { metadataJson, parseSafetensors, serializeSafetensors } from '../io/safetensors';
import type { InputNormalization } from '../models/teacher';
import type { SynthesizedBatch } from '../synthesis/batch';

/** `format` field of every manifest and batch file. */
export const DATASET_FORMAT = 'natinv-dataset';
/**
 * Version of the folder format this code writes and reads. Version 2 added each batch's unclipped
 * normalized images and the teacher's normalization; version 1 folders lack them and are refused.
 */
export const DATASET_FORMAT_VERSION = 2;

export const MANIFEST_FILE = 'manifest.json';
export const BATCHES_DIR = 'batches';
export const IMAGES_DIR = 'images';
export const GRIDS_DIR = 'grids';
/** A sequential method's carried state after each batch (see stateTrainer). */
export const STATE_DIR = 'state';

/** `batch-000012`: six digits keep `ls` in index order up to a million batches. */
export function batchName(index: number): string {
  return `batch-${String(index).padStart(6, '0')}`;
}

/** Path of batch `index`'s safetensors file. */
export function batchFilePath(folder: string, index: number): string {
  return path.join(folder, BATCHES_DIR, `${batchName(index)}.safetensors`);
}

/** Folder of batch `index`'s per-image PNGs. */
export function batchImagesPath(folder: string, index: number): string {
  return path.join(folder, IMAGES_DIR, batchName(index));
}

/** Path of batch `index`'s grid PNG. */
export function batchGridPath(folder: string, index: number): string {
  return path.join(folder, GRIDS_DIR, `${batchName(index)}.png`);
}

/** Path of the carried state saved after batch `index`. */
export function batchStatePath(folder: string, index: number): string {
  return path.join(folder, STATE_DIR, `${batchName(index)}.safetensors`);
}

const BATCH_FILE = /^batch-(\d{6,})\.safetensors$/;
// writeFileAtomic's temp names: `.<final name>.<pid>.<time>.<random>.tmp`.
const BATCH_TEMP_FILE = /^\.batch-(\d{6,})\.(?:safetensors|png)\..*\.tmp$/;

/** The batch index named by a batch file name (`batch-000012.safetensors` -> 12), else undefined. */
export function parseBatchFileName(name: string): number | undefined {
  const match = BATCH_FILE.exec(name);
  return match !== null ? Number(match[1]) : undefined;
}

/** The batch index of a leftover temporary batch or grid file (see writeFileAtomic), else undefined. */
export function parseBatchTempFileName(name: string): number | undefined {
  const match = BATCH_TEMP_FILE.exec(name);
  return match !== null ? Number(match[1]) : undefined;
}

/** True for any temporary file left by writeFileAtomic. */
export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/**
 * File name of image `n` of a batch: `0003-cat.png`. The class name is made file-system safe
 * (characters outside `A-Z a-z 0-9 . _ -` become `_`); without class names it is the target index.
 */
export function imageFileName(n: number, target: number, classNames?: readonly string[]): string {
  const label = classLabel(target, classNames).replace(/[^A-Za-z0-9._-]/g, '_');
  return `${String(n).padStart(4, '0')}-${label}.png`;
}

/** Class name of `target` (the index as text when no names are given). */
export function classLabel(target: number, classNames?: readonly string[]): string {
  return classNames !== undefined ? classNames[target] : String(target);
}

/** Contents of `<folder>/manifest.json`. */
export interface DatasetManifest {
  /** Always `natinv-dataset`. */
  format: typeof DATASET_FORMAT;
  /** Folder format version ({@link DATASET_FORMAT_VERSION}). */
  version: number;
  /** The run's configuration as given by the caller (plain JSON): method, teacher, options... */
  configuration: Record<string, unknown>;
  /** Planned number of batches (indices 0 .. batches - 1). */
  batches: number;
  /** Images per batch; null until known (from the configuration's `batchSize` or the first batch). */
  batchSize: number | null;
  /** [height, width, channels] of every image; null until the first batch is written. */
  imageShape: [number, number, number] | null;
  /** ISO 8601 time the folder was created. */
  created: string;
  /** ISO 8601 time of the last manifest write. */
  updated: string;
  /**
   * Indices of the batch files present at the last manifest write, ascending. The batch files are
   * the truth (each is written atomically, last); this list is a summary of them.
   */
  finished: number[];
}

/** Why a folder or batch of format `version` cannot be read, and what to do about it. */
function versionMismatch(version: number): string {
  return version > DATASET_FORMAT_VERSION
    ? `format version ${version} was written by a newer natinv (this one reads version ${DATASET_FORMAT_VERSION}); upgrade natinv to read it.`
    : `format version ${version} was written by an earlier natinv and lacks the unclipped images ` +
        `version ${DATASET_FORMAT_VERSION} stores; synthesize into a new folder.`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Validates parsed manifest JSON; `source` (the file) is named in every error. */
export function validateManifest(value: unknown, source: string): DatasetManifest {
  const fail = (message: string): never => {
    throw new Error(`dataset manifest ${source}: ${message} Fix or delete the file (deleting it means starting the run over).`);
  };
  if (!isPlainObject(value)) return fail('is not a JSON object.');
  if (value.format !== DATASET_FORMAT) fail(`"format" is ${JSON.stringify(value.format)}, expected "${DATASET_FORMAT}".`);
  if (!isPositiveInteger(value.version)) fail(`"version" must be a positive integer, found ${JSON.stringify(value.version)}.`);
  if ((value.version as number) !== DATASET_FORMAT_VERSION) {
    throw new Error(`dataset manifest ${source}: ${versionMismatch(value.version as number)}`);
  }
  if (!isPlainObject(value.configuration)) fail('"configuration" must be a JSON object.');
  if (!isPositiveInteger(value.batches)) fail(`"batches" must be a positive integer, found ${JSON.stringify(value.batches)}.`);
  if (value.batchSize !== null && !isPositiveInteger(value.batchSize)) {
    fail(`"batchSize" must be a positive integer or null, found ${JSON.stringify(value.batchSize)}.`);
  }
  const shape = value.imageShape;
  if (shape !== null && !(Array.isArray(shape) && shape.length === 3 && shape.every(isPositiveInteger))) {
    fail(`"imageShape" must be [height, width, channels] or null, found ${JSON.stringify(shape)}.`);
  }
  for (const key of ['created', 'updated'] as const) {
    if (typeof value[key] !== 'string') fail(`"${key}" must be an ISO 8601 time string.`);
  }
  if (!Array.isArray(value.finished) || !value.finished.every(isIndex)) {
    fail('"finished" must be a list of non-negative integer batch indices.');
  }
  return value as unknown as DatasetManifest;
}

/** The manifest as file bytes (pretty JSON, trailing newline). */
export function serializeManifest(manifest: DatasetManifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
}

// JSON has no NaN or infinities; a diverged loss must still round-trip exactly.
function encodeNumber(value: number): string {
  return Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify(String(value));
}

function decodeNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
  return undefined;
}

/**
 * Checks that a batch's fields agree with each other (index, shape, array lengths, integer
 * targets). Throws naming the batch and the field; `where` prefixes the message.
 */
export function validateBatch(batch: SynthesizedBatch, where: string): void {
  const fail = (message: string): never => {
    throw new Error(`${where}: batch ${batch.index}: ${message}`);
  };
  if (!isIndex(batch.index)) fail(`index must be a non-negative integer, got ${batch.index}.`);
  if (!Array.isArray(batch.shape) || batch.shape.length !== 4 || !batch.shape.every(isPositiveInteger)) {
    fail(`shape must be [count, height, width, channels] of positive integers, got ${JSON.stringify(batch.shape)}.`);
  }
  const [count, height, width, channels] = batch.shape;
  for (const name of ['images', 'images01'] as const) {
    const pixels = batch[name];
    if (!(pixels instanceof Float32Array)) fail(`${name} must be a Float32Array.`);
    if (pixels.length !== count * height * width * channels) {
      fail(`${name} has ${pixels.length} values but shape [${batch.shape.join(', ')}] needs ${count * height * width * channels}.`);
    }
  }
  const { mean, std } = batch.normalization ?? {};
  const perChannel = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length === channels && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!perChannel(mean) || !perChannel(std) || !std.every((x) => x > 0)) {
    fail(
      `normalization must be { mean, std } with ${channels} finite numbers each (std positive), got ${JSON.stringify(batch.normalization)}.`,
    );
  }
  const perImage: Array<[string, unknown, 'Int32Array' | 'Float32Array']> = [
    ['targets', batch.targets, 'Int32Array'],
    ['confidence', batch.confidence, 'Float32Array'],
    ['predictions', batch.predictions, 'Int32Array'],
  ];
  for (const [name, array, type] of perImage) {
    const ok = type === 'Int32Array' ? array instanceof Int32Array : array instanceof Float32Array;
    if (!ok) fail(`${name} must be a ${type}.`);
    if ((array as ArrayLike<number>).length !== count)
      fail(`${name} has ${(array as ArrayLike<number>).length} entries for ${count} images.`);
  }
  if (batch.targets.some((t) => t < 0)) fail('targets must be non-negative class indices.');
  for (const key of ['method', 'teacher'] as const) {
    if (typeof batch[key] !== 'string') fail(`${key} must be a string.`);
  }
  if (!Number.isSafeInteger(batch.seed)) fail(`seed must be an integer, got ${batch.seed}.`);
  if (!Number.isSafeInteger(batch.steps) || batch.steps < 0) fail(`steps must be a non-negative integer, got ${batch.steps}.`);
  if (typeof batch.loss !== 'number') fail('loss must be a number.');
  if (!isPlainObject(batch.terms) || !Object.values(batch.terms).every((v) => typeof v === 'number')) {
    fail('terms must be an object of numbers.');
  }
}

/**
 * Encodes a batch as safetensors bytes: tensors `images` F32 [B,H,W,C] (normalized, unclipped),
 * `images01` F32 [B,H,W,C], `targets` I32 [B], `confidence` F32 [B], `predictions` I32 [B];
 * metadata (JSON strings) `format`, `version`, `index`, `method`, `seed`, `teacher`,
 * `normalization`, `loss`, `terms` (keys sorted), `steps`. The bytes depend
 * only on the batch: no times or paths go in, so equal batches give equal files.
 */
export function serializeBatch(batch: SynthesizedBatch): Uint8Array {
  validateBatch(batch, 'serializeBatch');
  const count = batch.shape[0];
  const terms = Object.keys(batch.terms)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${encodeNumber(batch.terms[key])}`);
  return serializeSafetensors(
    {
      images: { dtype: 'float32', shape: [...batch.shape], data: batch.images },
      images01: { dtype: 'float32', shape: [...batch.shape], data: batch.images01 },
      targets: { dtype: 'int32', shape: [count], data: batch.targets },
      confidence: { dtype: 'float32', shape: [count], data: batch.confidence },
      predictions: { dtype: 'int32', shape: [count], data: batch.predictions },
    },
    {
      format: JSON.stringify(DATASET_FORMAT),
      version: JSON.stringify(DATASET_FORMAT_VERSION),
      index: JSON.stringify(batch.index),
      method: JSON.stringify(batch.method),
      seed: JSON.stringify(batch.seed),
      teacher: JSON.stringify(batch.teacher),
      normalization: JSON.stringify({ mean: batch.normalization.mean, std: batch.normalization.std }),
      loss: encodeNumber(batch.loss),
      terms: `{${terms.join(',')}}`,
      steps: JSON.stringify(batch.steps),
    },
  );
}

/**
 * Decodes batch file bytes written by {@link serializeBatch}. Throws a plain description of what
 * is wrong (the caller adds the file name and the remedy).
 */
export function parseBatch(bytes: Uint8Array): SynthesizedBatch {
  const file = parseSafetensors(bytes);
  const meta = <T>(key: string): T => metadataJson<T>(file, key);
  if (meta('format') !== DATASET_FORMAT) throw new Error(`metadata "format" is not "${DATASET_FORMAT}".`);
  const version = meta<number>('version');
  if (!isPositiveInteger(version)) throw new Error(`metadata "version" must be a positive integer, found ${JSON.stringify(version)}.`);
  if (version !== DATASET_FORMAT_VERSION) throw new Error(`batch ${versionMismatch(version)}`);
  const tensor = (name: string, stored: 'F32' | 'I32', rank: number) => {
    const t = file.tensors[name];
    if (t === undefined) throw new Error(`tensor "${name}" is missing.`);
    if (t.storedAs !== stored || t.shape.length !== rank) {
      throw new Error(`tensor "${name}" is ${t.storedAs} [${t.shape.join(', ')}], expected ${stored} of rank ${rank}.`);
    }
    return t;
  };
  const images = tensor('images', 'F32', 4);
  const images01 = tensor('images01', 'F32', 4);
  if (images01.shape.join() !== images.shape.join()) {
    throw new Error(`tensor "images01" is [${images01.shape.join(', ')}] but "images" is [${images.shape.join(', ')}].`);
  }
  const loss = decodeNumber(meta('loss'));
  if (loss === undefined) throw new Error('metadata "loss" is not a number.');
  const rawTerms = meta<unknown>('terms');
  if (!isPlainObject(rawTerms)) throw new Error('metadata "terms" is not an object.');
  const terms: Record<string, number> = {};
  for (const [key, value] of Object.entries(rawTerms)) {
    const decoded = decodeNumber(value);
    if (decoded === undefined) throw new Error(`metadata "terms" entry "${key}" is not a number.`);
    Object.defineProperty(terms, key, { value: decoded, enumerable: true, writable: true, configurable: true });
  }
  const batch: SynthesizedBatch = {
    index: meta<number>('index'),
    method: meta<string>('method'),
    seed: meta<number>('seed'),
    teacher: meta<string>('teacher'),
    shape: images.shape as unknown as [number, number, number, number],
    images: images.data as Float32Array,
    normalization: meta<InputNormalization>('normalization'),
    images01: images01.data as Float32Array,
    targets: tensor('targets', 'I32', 1).data as Int32Array,
    confidence: tensor('confidence', 'F32', 1).data as Float32Array,
    predictions: tensor('predictions', 'I32', 1).data as Int32Array,
    loss,
    terms,
    steps: meta<number>('steps'),
  };
  validateBatch(batch, 'batch file contents');
  return batch;
}
