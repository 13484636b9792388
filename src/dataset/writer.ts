/**
 * Writing one finished batch into a dataset folder, and the manifest. Node only. Every file is
 * written atomically (temp + rename); the batch file goes last, so its presence means the batch's
 * PNGs and grid are complete too.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/files';
import { imageGrid, toUint8Rgb } from '../io/grid';
import { encodePng } from '../io/png-node';
import type { SynthesizedBatch } from '../synthesis/batch';
import {
  DatasetManifest,
  MANIFEST_FILE,
  batchFilePath,
  batchGridPath,
  batchImagesPath,
  classLabel,
  imageFileName,
  serializeBatch,
  serializeManifest,
  validateBatch,
} from './format';

/** Options of {@link writeBatch}. */
export interface WriteBatchOptions {
  /**
   * Class name per target index, used in PNG file names (`0003-cat.png`) and grid captions.
   * Default: the target index itself (`0003-3.png`).
   */
  classNames?: readonly string[];
  /** Write one PNG per image under `images/batch-NNNNNN/`. Default true. */
  png?: boolean;
  /** Write a labelled grid of the batch to `grids/batch-NNNNNN.png`. Default true. */
  grid?: boolean;
}

/** Paths written by {@link writeBatch}. */
export interface WrittenBatch {
  /** The batch's safetensors file. */
  file: string;
  /** Per-image PNGs, in image order (empty when `png` is false). */
  images: string[];
  /** The grid PNG (undefined when `grid` is false). */
  grid?: string;
}

// Enough parallel writes to hide file-system latency without opening hundreds of files at once.
const PARALLEL_WRITES = 16;

/**
 * Writes `batch` into `folder`: its PNGs (`images/batch-NNNNNN/0003-cat.png`), its labelled grid
 * (`grids/batch-NNNNNN.png`) and, last, its safetensors file (`batches/batch-NNNNNN.safetensors`,
 * see serializeBatch), each atomically. A previous partial attempt's PNGs for this index are
 * removed first. Does not touch the manifest (synthesizeToFolder does).
 *
 * Throws before writing anything if the batch is inconsistent, a target has no class name, or
 * PNGs/grids are asked for images that are not 1- or 3-channel.
 */
export async function writeBatch(folder: string, batch: SynthesizedBatch, options: WriteBatchOptions = {}): Promise<WrittenBatch> {
  const png = options.png ?? true;
  const grid = options.grid ?? true;
  const classNames = options.classNames;
  validateBatch(batch, 'writeBatch');
  const [count, height, width, channels] = batch.shape;
  if (classNames !== undefined) {
    const missing = batch.targets.find((t) => t >= classNames.length || typeof classNames[t] !== 'string');
    if (missing !== undefined) {
      throw new Error(
        `writeBatch: batch ${batch.index} has target ${missing} but classNames has ${classNames.length} entries; ` +
          'pass the class names of the teacher that was inverted (or none, to name files by class index).',
      );
    }
  }
  if ((png || grid) && channels !== 1 && channels !== 3) {
    throw new Error(
      `writeBatch: batch ${batch.index} has ${channels}-channel images; PNGs and grids need 1 or 3. Pass png: false, grid: false.`,
    );
  }
  const bytes = serializeBatch(batch);

  const images: string[] = [];
  const imagesFolder = batchImagesPath(folder, batch.index);
  // Leftovers of an interrupted attempt (temp files, other class names) must not linger.
  await fs.rm(imagesFolder, { recursive: true, force: true });
  if (png) {
    await fs.mkdir(imagesFolder, { recursive: true });
    const imageSize = height * width * channels;
    for (let start = 0; start < count; start += PARALLEL_WRITES) {
      const writes: Array<Promise<void>> = [];
      for (let n = start; n < Math.min(count, start + PARALLEL_WRITES); n++) {
        const file = path.join(imagesFolder, imageFileName(n, batch.targets[n], classNames));
        const rgb = toUint8Rgb(batch.images01.subarray(n * imageSize, (n + 1) * imageSize), { channels: channels as 1 | 3 });
        images.push(file);
        writes.push(writeFileAtomic(file, encodePng(rgb, width, height, 3)));
      }
      await Promise.all(writes);
    }
  }
  let gridFile: string | undefined;
  if (grid) {
    gridFile = batchGridPath(folder, batch.index);
    const labels = Array.from(batch.targets, (t) => classLabel(t, classNames));
    const image = imageGrid(batch.images01, count, height, width, { labels, channels: channels as 1 | 3 });
    await writeFileAtomic(gridFile, encodePng(image.pixels, image.width, image.height, 3));
  }
  const file = batchFilePath(folder, batch.index);
  await writeFileAtomic(file, bytes);
  return { file, images, grid: gridFile };
}

/** Writes `<folder>/manifest.json` atomically. */
export async function writeManifest(folder: string, manifest: DatasetManifest): Promise<void> {
  await writeFileAtomic(path.join(folder, MANIFEST_FILE), serializeManifest(manifest));
}
