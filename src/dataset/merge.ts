/**
 * Joining the folders of a sharded run into one dataset. Batch files are copied byte for byte,
 * so the merged folder's batch files equal those of a single unsharded run. Node only.
 */
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/files';
import { describeDifferences, diffConfigurations } from './configuration';
import { DatasetManifest, MANIFEST_FILE, batchFilePath, batchGridPath, batchImagesPath, isTempFileName } from './format';
import { listBatchFiles, readBatchFile, readManifest } from './reader';
import { writeManifest } from './writer';

/** Options of {@link mergeDatasets}. */
export interface MergeDatasetsOptions {
  /** Copy each batch's PNGs and grid along with its batch file. Default true. */
  images?: boolean;
}

/** What {@link mergeDatasets} did. */
export interface MergeSummary {
  /** Batches copied into the target, ascending. */
  copied: number[];
  /** Batches the target already held (identical bytes), ascending. */
  present: number[];
  /** Batches found in more than one folder (the target included) with identical bytes, ascending. */
  duplicates: number[];
  /** Planned batches no folder holds, ascending (rerun the shards that own them). */
  missing: number[];
}

interface Holder {
  folder: string;
  hash: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkCompatible(reference: DatasetManifest, referenceName: string, other: DatasetManifest, otherName: string): void {
  const differences = diffConfigurations(reference.configuration, other.configuration);
  if (differences.length > 0) {
    throw new Error(
      `mergeDatasets: ${otherName} was made with a different configuration than ${referenceName}:\n` +
        `${describeDifferences(differences, referenceName, otherName)}\n` +
        'Only the shards of one run can be merged; leave the other folder out.',
    );
  }
  const fields: Array<[keyof DatasetManifest, string]> = [
    ['batches', 'planned batches'],
    ['batchSize', 'batch size'],
    ['imageShape', 'image shape'],
  ];
  for (const [key, what] of fields) {
    const a = reference[key];
    const b = other[key];
    if (a !== null && b !== null && JSON.stringify(a) !== JSON.stringify(b)) {
      throw new Error(
        `mergeDatasets: ${otherName} has ${what} ${JSON.stringify(b)} but ${referenceName} has ${JSON.stringify(a)}; ` +
          'only the shards of one run can be merged.',
      );
    }
  }
}

/** Reads every batch file of `folder`, checking it parses; index -> sha256 of its bytes. */
async function hashBatches(folder: string): Promise<Map<number, string>> {
  const hashes = new Map<number, string>();
  for (const index of (await listBatchFiles(folder)).indices) {
    const file = batchFilePath(folder, index);
    try {
      const { bytes } = await readBatchFile(file, { expectedIndex: index });
      hashes.set(index, sha256(bytes));
    } catch (cause) {
      throw new Error(`mergeDatasets: ${(cause as Error).message} Nothing was merged.`);
    }
  }
  return hashes;
}

async function copyFile(from: string, to: string): Promise<void> {
  const buffer = await fs.readFile(from);
  await writeFileAtomic(to, new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
}

/** Copies one batch: its PNGs and grid first, its batch file (the commit marker) last. */
async function copyBatch(source: string, target: string, index: number, images: boolean): Promise<void> {
  if (images) {
    const from = batchImagesPath(source, index);
    const to = batchImagesPath(target, index);
    const names = await fs.readdir(from).catch(() => [] as string[]);
    await fs.rm(to, { recursive: true, force: true });
    for (const name of names.filter((n) => !isTempFileName(n)).sort()) await copyFile(path.join(from, name), path.join(to, name));
    const grid = batchGridPath(source, index);
    if (
      await fs.access(grid).then(
        () => true,
        () => false,
      )
    )
      await copyFile(grid, batchGridPath(target, index));
  }
  await copyFile(batchFilePath(source, index), batchFilePath(target, index));
}

/**
 * Merges the dataset folders `sources` (typically the shards of one run) into `target`, which may
 * be new, one of the sources, or an earlier merge of the same run. Checks first, writes after:
 * every manifest must hold the same configuration, planned batches, batch size and image shape;
 * every batch file must parse; a batch index held by several folders must have identical bytes
 * there. Then copies the batch files the target lacks (with their PNGs and grids) byte for byte
 * and writes one manifest. Errors name the folders, the differing keys or the batch.
 */
export async function mergeDatasets(sources: readonly string[], target: string, options: MergeDatasetsOptions = {}): Promise<MergeSummary> {
  const images = options.images ?? true;
  if (!Array.isArray(sources) || sources.length === 0) throw new Error('mergeDatasets: give at least one source folder.');
  const targetPath = path.resolve(target);
  const folders = [...new Set(sources.map((s) => path.resolve(s)))].filter((s) => s !== targetPath);

  const manifests = await Promise.all(folders.map((f) => readManifest(f)));
  const targetManifest = (await fs.access(path.join(targetPath, MANIFEST_FILE)).then(
    () => true,
    () => false,
  ))
    ? await readManifest(targetPath)
    : undefined;
  if (targetManifest === undefined && (await listBatchFiles(targetPath)).indices.length > 0) {
    throw new Error(
      `mergeDatasets: the target ${targetPath} has batch files but no ${MANIFEST_FILE}, so they cannot be checked; ` +
        'merge into a new folder, or delete its batches/ folder first.',
    );
  }
  const all: Array<[string, DatasetManifest]> = folders.map((f, i) => [f, manifests[i]]);
  if (targetManifest !== undefined) all.unshift([targetPath, targetManifest]);
  if (all.length === 0) throw new Error('mergeDatasets: the only source is the target itself; nothing to merge.');
  const [referenceName, reference] = all[0];
  for (const [name, manifest] of all.slice(1)) checkCompatible(reference, referenceName, manifest, name);

  const targetHashes = targetManifest !== undefined ? await hashBatches(targetPath) : new Map<number, string>();
  const holders = new Map<number, Holder>();
  const duplicates = new Set<number>();
  for (const [index, hash] of targetHashes) holders.set(index, { folder: targetPath, hash });
  for (const folder of folders) {
    for (const [index, hash] of await hashBatches(folder)) {
      const earlier = holders.get(index);
      if (earlier === undefined) {
        holders.set(index, { folder, hash });
      } else if (earlier.hash !== hash) {
        throw new Error(
          `mergeDatasets: batch ${index} differs between ${batchFilePath(earlier.folder, index)} and ${batchFilePath(folder, index)}; ` +
            'the folders are not shards of one run (seed, teacher or code differ). Delete the wrong file and rerun its shard. Nothing was merged.',
        );
      } else {
        duplicates.add(index);
      }
    }
  }

  await fs.mkdir(targetPath, { recursive: true });
  const copied: number[] = [];
  const present: number[] = [];
  for (const index of [...holders.keys()].sort((a, b) => a - b)) {
    const holder = holders.get(index) as Holder;
    if (holder.folder === targetPath) {
      present.push(index);
      continue;
    }
    await copyBatch(holder.folder, targetPath, index, images);
    copied.push(index);
  }

  const known = <K extends 'batchSize' | 'imageShape'>(key: K): DatasetManifest[K] =>
    all.map(([, m]) => m[key]).find((v) => v !== null) ?? null;
  const created = all.map(([, m]) => m.created).sort()[0];
  const finished = (await listBatchFiles(targetPath)).indices;
  const manifest: DatasetManifest = {
    ...reference,
    batchSize: known('batchSize'),
    imageShape: known('imageShape'),
    created: targetManifest?.created ?? created,
    updated: new Date().toISOString(),
    finished,
  };
  await writeManifest(targetPath, manifest);
  const have = new Set(finished);
  const missing: number[] = [];
  for (let i = 0; i < reference.batches; i++) if (!have.has(i)) missing.push(i);
  return { copied, present, duplicates: [...duplicates].sort((a, b) => a - b), missing };
}
