import * as fs from 'fs';
import * as path from 'path';
import { decodePng } from '../src/io/png-node';
import { writeFileAtomic } from '../src/io/files';
import {
  CorruptBatchError,
  batchFilePath,
  batchGridPath,
  batchImagesPath,
  finishedBatches,
  readBatch,
  readDataset,
  readManifest,
  serializeBatch,
  writeBatch,
  writeManifest,
} from '../src/dataset';
import { DATASET_FORMAT, DATASET_FORMAT_VERSION, DatasetManifest } from '../src/dataset/format';
import { fakeBatch, fakeConfiguration, makeTempDir, removeTempDir } from './dataset.fixtures';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function manifestFor(batches: number, finished: number[]): DatasetManifest {
  return {
    format: DATASET_FORMAT,
    version: DATASET_FORMAT_VERSION,
    configuration: fakeConfiguration(),
    batches,
    batchSize: 4,
    imageShape: [8, 8, 3],
    created: '2024-01-01T00:00:00.000Z',
    updated: '2024-01-01T00:00:00.000Z',
    finished,
  };
}

describe('dataset format', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('format');
  });
  afterEach(() => removeTempDir(dir));

  it('round-trips a batch through its safetensors file, with PNGs and a grid', async () => {
    const batch = { ...fakeBatch(12), terms: { tv: 0.25, ce: Number.NaN, bn: Number.POSITIVE_INFINITY }, loss: 1 / 3 };
    const written = await writeBatch(dir, batch, { classNames: CLASSES });
    expect(written.file).toBe(path.join(dir, 'batches', 'batch-000012.safetensors'));

    const back = await readBatch(written.file);
    expect(back.index).toBe(12);
    expect(back.method).toBe('fake');
    expect(back.seed).toBe(7);
    expect(back.teacher).toBe('none');
    expect(back.steps).toBe(3);
    expect(back.loss).toBe(1 / 3);
    expect(back.terms).toEqual({ bn: Number.POSITIVE_INFINITY, ce: Number.NaN, tv: 0.25 });
    expect([...back.shape]).toEqual([4, 8, 8, 3]);
    expect(back.images01).toEqual(batch.images01);
    expect(back.images).toEqual(batch.images);
    expect(back.normalization).toEqual(batch.normalization);
    expect(back.targets).toEqual(batch.targets);
    expect(back.confidence).toEqual(batch.confidence);
    expect(back.predictions).toEqual(batch.predictions);

    // Image n of batch 12 has target (12 * 4 + n) % 10: 8, 9, 0, 1.
    const names = fs.readdirSync(batchImagesPath(dir, 12)).sort();
    expect(names).toEqual(['0000-ship.png', '0001-truck.png', '0002-airplane.png', '0003-automobile.png']);
    expect(written.images.map((f) => path.basename(f))).toEqual(names);
    const png = decodePng(new Uint8Array(fs.readFileSync(path.join(batchImagesPath(dir, 12), names[3]))));
    expect([png.width, png.height]).toEqual([8, 8]);
    // Pixel (0, 0) of image 3, red channel.
    expect(png.pixels[0]).toBe(Math.round(batch.images01[3 * 8 * 8 * 3] * 255));

    expect(written.grid).toBe(batchGridPath(dir, 12));
    const grid = decodePng(new Uint8Array(fs.readFileSync(batchGridPath(dir, 12))));
    expect(grid.width).toBeGreaterThan(2 * 16);
    expect(grid.height).toBeGreaterThan(2 * 16);
  });

  it('names images by class index without class names, and can skip PNGs and grids', async () => {
    await writeBatch(dir, fakeBatch(0));
    expect(fs.readdirSync(batchImagesPath(dir, 0)).sort()).toEqual(['0000-0.png', '0001-1.png', '0002-2.png', '0003-3.png']);
    const bare = await writeBatch(dir, fakeBatch(1), { png: false, grid: false });
    expect(bare.images).toEqual([]);
    expect(bare.grid).toBeUndefined();
    expect(fs.existsSync(batchImagesPath(dir, 1))).toBe(false);
    expect(fs.existsSync(batchGridPath(dir, 1))).toBe(false);
    expect(fs.existsSync(batchFilePath(dir, 1))).toBe(true);
  });

  it('writes bytes that depend only on the batch', async () => {
    expect(Buffer.from(serializeBatch(fakeBatch(3)))).toEqual(Buffer.from(serializeBatch(fakeBatch(3))));
    // Term order does not change the bytes.
    const reordered = { ...fakeBatch(3), terms: { tv: fakeBatch(3).terms.tv, bn: fakeBatch(3).terms.bn, ce: fakeBatch(3).terms.ce } };
    expect(Buffer.from(serializeBatch(reordered))).toEqual(Buffer.from(serializeBatch(fakeBatch(3))));
    expect(Buffer.from(serializeBatch(fakeBatch(4)))).not.toEqual(Buffer.from(serializeBatch(fakeBatch(3))));
  });

  it('refuses inconsistent batches and missing class names before writing anything', async () => {
    await expect(writeBatch(dir, { ...fakeBatch(0), targets: new Int32Array(3) })).rejects.toThrow(/targets has 3 entries for 4 images/);
    await expect(writeBatch(dir, fakeBatch(2), { classNames: ['a', 'b'] })).rejects.toThrow(/target \d+ but classNames has 2 entries/);
    await expect(writeBatch(dir, { ...fakeBatch(0), images: new Float32Array(5) })).rejects.toThrow(
      /images has 5 values but shape \[4, 8, 8, 3\] needs 768/,
    );
    await expect(writeBatch(dir, { ...fakeBatch(0), normalization: { mean: [0.5], std: [1] } })).rejects.toThrow(
      /normalization must be \{ mean, std \} with 3 finite numbers each/,
    );
    await expect(writeBatch(dir, { ...fakeBatch(0), normalization: { mean: [0, 0, 0], std: [1, 0, 1] } })).rejects.toThrow(/std positive/);
    expect(fs.existsSync(path.join(dir, 'batches'))).toBe(false);
  });

  it('reads a whole dataset in index order and reports missing batches', async () => {
    for (const i of [2, 0, 1]) await writeBatch(dir, fakeBatch(i), { png: false, grid: false });
    await writeManifest(dir, manifestFor(4, [0, 1, 2]));
    const dataset = await readDataset(dir);
    expect(dataset.batches.map((b) => b.index)).toEqual([0, 1, 2]);
    expect(dataset.count).toBe(12);
    expect(dataset.shape).toEqual([12, 8, 8, 3]);
    expect(dataset.missing).toEqual([3]);
    expect(dataset.images01.subarray(8 * 192, 12 * 192)).toEqual(fakeBatch(2).images01);
    expect([...dataset.targets]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    await expect(readDataset(dir, { requireComplete: true })).rejects.toThrow(
      /incomplete: 1 of 4 planned batches are missing \(first: 3\)/,
    );
    expect((await readManifest(dir)).finished).toEqual([0, 1, 2]);
  });

  it('explains a missing manifest, a corrupt batch file and mismatched shapes', async () => {
    await expect(readDataset(dir)).rejects.toThrow(/no manifest\.json in .*not a natinv dataset folder/);

    await writeBatch(dir, fakeBatch(0), { png: false, grid: false });
    await writeManifest(dir, manifestFor(3, [0]));
    const file = batchFilePath(dir, 1);
    fs.writeFileSync(file, serializeBatch(fakeBatch(1)).subarray(0, 500));
    const error = await readDataset(dir).catch((e: Error) => e);
    expect(error).toBeInstanceOf(CorruptBatchError);
    expect((error as Error).message).toContain(`batch file ${file} is corrupt`);
    expect((error as Error).message).toContain('delete it and rerun the synthesis to regenerate it');

    await writeBatch(dir, fakeBatch(1, { height: 4 }), { png: false, grid: false });
    await expect(readDataset(dir)).rejects.toThrow(/batch-000001\.safetensors holds 4x8x3 images but the manifest says 8x8x3/);
    await writeManifest(dir, { ...manifestFor(3, [0]), imageShape: null });
    await expect(readDataset(dir)).rejects.toThrow(/holds 4x8x3 images but batch 0 holds 8x8x3/);

    fs.rmSync(file);
    await writeManifest(dir, manifestFor(3, [0, 1]));
    await expect(readDataset(dir)).rejects.toThrow(/lists batch 1 as finished but .*batch-000001\.safetensors is missing/);

    fs.writeFileSync(path.join(dir, 'manifest.json'), '{"format": "natinv-dataset", "version": 9}');
    await expect(readManifest(dir)).rejects.toThrow(/format version 9 was written by a newer natinv/);
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{"format": "natinv-dataset", "version": 1}');
    await expect(readManifest(dir)).rejects.toThrow(/format version 1 was written by an earlier natinv .*synthesize into a new folder/);
  });

  it('counts only batch files that parse and hold their own index; temp files never count', async () => {
    for (const i of [0, 1, 2]) await writeBatch(dir, fakeBatch(i), { png: false, grid: false });
    fs.writeFileSync(batchFilePath(dir, 3), serializeBatch(fakeBatch(3)).subarray(0, 100));
    fs.copyFileSync(batchFilePath(dir, 0), batchFilePath(dir, 4));
    const temp = path.join(dir, 'batches', `.batch-000005.safetensors.123.456.abc.tmp`);
    fs.writeFileSync(temp, serializeBatch(fakeBatch(5)).subarray(0, 100));
    const result = await finishedBatches(dir);
    expect(result.finished).toEqual([0, 1, 2]);
    expect(result.corrupt.map((c) => c.index)).toEqual([3, 4]);
    expect(result.corrupt[1].reason).toMatch(/holds batch 0, but its name says batch 4/);
    expect(result.temporary).toEqual([temp]);
    expect((await finishedBatches(dir, { verify: false })).finished).toEqual([0, 1, 2, 3, 4]);
    expect((await finishedBatches(path.join(dir, 'nothing-here'))).finished).toEqual([]);
  });

  it('leaves no temp files behind after atomic writes', async () => {
    await writeBatch(dir, fakeBatch(0));
    await writeFileAtomic(path.join(dir, 'x.bin'), new Uint8Array([1]));
    const all = fs.readdirSync(dir, { recursive: true }) as string[];
    expect(all.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
