import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { readCifarFile, readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '../src/io/files';
import { DATA_DIR, MODELS_DIR } from './helpers/shared';

const CIFAR10_GZ = path.join(DATA_DIR, 'cifar10', 'test_batch_first1017.bin.gz');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-io-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('safetensors files', () => {
  it('writes atomically into a new folder and reads back', async () => {
    const file = path.join(dir, 'nested', 'shard.safetensors');
    await writeSafetensorsFile(
      file,
      {
        x: { dtype: 'float32', shape: [2], data: new Float32Array([1.5, -2]) },
        y: { dtype: 'int32', shape: [1], data: new Int32Array([7]) },
      },
      { step: '12' },
    );
    expect(fs.readdirSync(path.dirname(file))).toEqual(['shard.safetensors']); // no temp file left behind
    const read = await readSafetensorsFile(file);
    expect(read.metadata).toEqual({ step: '12' });
    expect(Array.from(read.tensors.x.data)).toEqual([1.5, -2]);
    expect(Array.from(read.tensors.y.data)).toEqual([7]);
  });

  it('reads a real model file', async () => {
    const read = await readSafetensorsFile(path.join(MODELS_DIR, 'cifar10_resnet20.safetensors'));
    expect(read.tensors['conv1.weight'].shape).toEqual([16, 3, 3, 3]);
  });

  it('names the path when reading fails', async () => {
    const missing = path.join(dir, 'missing.safetensors');
    await expect(readSafetensorsFile(missing)).rejects.toThrow(`cannot read safetensors file ${missing}`);
    const truncated = path.join(dir, 'cut.safetensors');
    const bytes = fs.readFileSync(path.join(MODELS_DIR, 'cifar10_resnet20.safetensors'));
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 4));
    await expect(readSafetensorsFile(truncated)).rejects.toThrow(
      new RegExp(`^safetensors file ${truncated.replace(/[.\\/]/g, '\\$&')}: .*truncated`),
    );
  });
});

describe('writeFileAtomic', () => {
  it('replaces an existing file', async () => {
    const file = path.join(dir, 'a.bin');
    fs.writeFileSync(file, 'old');
    await writeFileAtomic(file, new TextEncoder().encode('new'));
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.readdirSync(dir)).toEqual(['a.bin']);
  });

  it('names the path and cleans up when the write fails', async () => {
    const target = path.join(dir, 'taken');
    fs.mkdirSync(path.join(target, 'inside'), { recursive: true }); // renaming a file over a non-empty folder fails
    await expect(writeFileAtomic(target, new Uint8Array(3))).rejects.toThrow(`cannot write ${target}`);
    expect(fs.readdirSync(dir)).toEqual(['taken']);
  });
});

describe('readCifarFile', () => {
  it('gunzips gzip files', async () => {
    const set = await readCifarFile(CIFAR10_GZ, { layout: 'cifar10', limit: 4 });
    expect(set.count).toBe(4);
    expect(Array.from(set.labels)).toEqual([3, 8, 8, 0]);
  });

  it('reads plain files as they are', async () => {
    const plain = path.join(dir, 'three.bin');
    fs.writeFileSync(plain, zlib.gunzipSync(fs.readFileSync(CIFAR10_GZ)).subarray(0, 3 * 3073));
    const set = await readCifarFile(plain, { layout: 'cifar10' });
    expect(set.count).toBe(3);
    expect(Array.from(set.labels)).toEqual([3, 8, 8]);
  });

  it('names the path in errors', async () => {
    const odd = path.join(dir, 'odd.bin');
    fs.writeFileSync(odd, new Uint8Array(3073 + 1));
    await expect(readCifarFile(odd, { layout: 'cifar10' })).rejects.toThrow(
      `CIFAR file ${odd}: 3074 bytes is not a whole number of cifar10 records (3073 bytes each): 1 record and 1 byte left over`,
    );
    const brokenGz = path.join(dir, 'broken.bin.gz');
    fs.writeFileSync(brokenGz, fs.readFileSync(CIFAR10_GZ).subarray(0, 1000));
    await expect(readCifarFile(brokenGz, { layout: 'cifar10' })).rejects.toThrow(`CIFAR file ${brokenGz}: gzip data does not decompress`);
    const missing = path.join(dir, 'none.bin');
    await expect(readCifarFile(missing, { layout: 'cifar10' })).rejects.toThrow(`cannot read CIFAR file ${missing}`);
  });
});
