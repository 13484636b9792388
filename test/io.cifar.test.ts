import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tf from '@tensorflow/tfjs-core';
import { CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES, CIFAR10_CLASSES, cifarBatch, parseCifar } from '../src/io/cifar';
import { DATA_DIR } from './helpers/shared';

const CIFAR10_FILE = path.join(DATA_DIR, 'cifar10', 'test_batch_first1017.bin.gz');
const CIFAR100_FILE = path.join(DATA_DIR, 'cifar100', 'test_first916.bin.gz');

// Gunzipped once here so these tests exercise the pure parser (files.ts has its own tests).
const cifar10Bytes = new Uint8Array(zlib.gunzipSync(fs.readFileSync(CIFAR10_FILE)));
const cifar100Bytes = new Uint8Array(zlib.gunzipSync(fs.readFileSync(CIFAR100_FILE)));

describe('parseCifar, CIFAR-10', () => {
  const set = parseCifar(cifar10Bytes, { layout: 'cifar10' });

  it('reads 1017 records with the canonical first test labels', () => {
    expect(set.count).toBe(1017);
    expect(set.labels).toHaveLength(1017);
    expect(set.images).toHaveLength(1017 * 32 * 32 * 3);
    expect([set.height, set.width, set.channels]).toEqual([32, 32, 3]);
    expect(Array.from(set.labels.subarray(0, 5))).toEqual([3, 8, 8, 0, 6]);
    expect(CIFAR10_CLASSES[set.labels[0]]).toBe('cat');
    expect(Math.max(...set.labels)).toBeLessThan(10);
  });

  it('scales pixels into [0, 1] using the whole range', () => {
    let min = Infinity;
    let max = -Infinity;
    for (const v of set.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('lays pixels out NHWC from the planar R, G, B records', () => {
    // Image 2, row 5, column 7: bytes at 1 + plane * 1024 + 5 * 32 + 7 within record 2.
    const n = 2;
    const y = 5;
    const x = 7;
    const record = n * 3073;
    for (let c = 0; c < 3; c++) {
      const raw = cifar10Bytes[record + 1 + c * 1024 + y * 32 + x];
      expect(set.images[((n * 32 + y) * 32 + x) * 3 + c]).toBeCloseTo(raw / 255, 7);
    }
    // The three channels of that pixel differ, so a transposed layout would be caught.
    const px = [0, 1, 2].map((c) => cifar10Bytes[record + 1 + c * 1024 + y * 32 + x]);
    expect(new Set(px).size).toBeGreaterThan(1);
  });

  it('honours limit', () => {
    const first = parseCifar(cifar10Bytes, { layout: 'cifar10', limit: 3 });
    expect(first.count).toBe(3);
    expect(Array.from(first.labels)).toEqual([3, 8, 8]);
    expect(Array.from(first.images)).toEqual(Array.from(set.images.subarray(0, 3 * 3072)));
    expect(parseCifar(cifar10Bytes, { layout: 'cifar10', limit: 5000 }).count).toBe(1017);
    expect(() => parseCifar(cifar10Bytes, { layout: 'cifar10', limit: -1 })).toThrow(/limit must be a non-negative integer, got -1/);
  });
});

describe('parseCifar, CIFAR-100', () => {
  it('reads 916 records with fine labels by default and coarse labels on request', () => {
    const fine = parseCifar(cifar100Bytes, { layout: 'cifar100' });
    const coarse = parseCifar(cifar100Bytes, { layout: 'cifar100', labels: 'coarse' });
    expect(fine.count).toBe(916);
    expect(coarse.count).toBe(916);
    expect(Math.max(...fine.labels)).toBeLessThan(100);
    expect(Math.max(...coarse.labels)).toBeLessThan(20);
    expect(new Set(fine.labels).size).toBeGreaterThan(20);
    expect(CIFAR100_FINE_CLASSES).toHaveLength(100);
    expect(CIFAR100_COARSE_CLASSES).toHaveLength(20);
    // The first canonical CIFAR-100 test image is a mountain.
    expect(CIFAR100_FINE_CLASSES[fine.labels[0]]).toBe('mountain');
    expect(CIFAR100_COARSE_CLASSES[coarse.labels[0]]).toBe('large_natural_outdoor_scenes');
    // Pixels start after the two label bytes.
    expect(fine.images[0]).toBeCloseTo(cifar100Bytes[2] / 255, 7);
    expect(Buffer.from(fine.images.buffer).equals(Buffer.from(coarse.images.buffer))).toBe(true);
  });
});

describe('parseCifar errors', () => {
  it('names the layout and the remainder when the length is not whole records', () => {
    expect(() => parseCifar(cifar10Bytes.subarray(0, 3073 * 2 + 5), { layout: 'cifar10' })).toThrow(
      /6151 bytes is not a whole number of cifar10 records \(3073 bytes each\): 2 records and 5 bytes left over/,
    );
    expect(() => parseCifar(cifar10Bytes, { layout: 'cifar100', source: 'x.bin' })).toThrow(
      /^CIFAR file x\.bin: 3125241 bytes is not a whole number of cifar100 records \(3074 bytes each\): 1016 records and 2057 bytes left over.*cifar10 layout \(3073/,
    );
  });

  it('reports a label out of range', () => {
    const bytes = cifar10Bytes.slice(0, 3073 * 3);
    bytes[3073 * 2] = 10;
    expect(() => parseCifar(bytes, { layout: 'cifar10' })).toThrow(/record 2 has label 10, outside 0\.\.9/);
    const hundred = cifar100Bytes.slice(0, 3074 * 2);
    hundred[3074] = 25;
    expect(() => parseCifar(hundred, { layout: 'cifar100' })).toThrow(/record 1 has coarse label 25, outside 0\.\.19/);
    hundred[3074] = 1;
    hundred[3075] = 100;
    expect(() => parseCifar(hundred, { layout: 'cifar100', labels: 'coarse' })).toThrow(/record 1 has fine label 100, outside 0\.\.99/);
  });
});

describe('cifarBatch', () => {
  const set = parseCifar(cifar10Bytes, { layout: 'cifar10', limit: 8 });

  it('returns NHWC float images and int32 labels for a range, without leaks', async () => {
    const before = tf.memory().numTensors;
    const { images, labels } = cifarBatch(set, 2, 5);
    expect(images.shape).toEqual([3, 32, 32, 3]);
    expect(images.dtype).toBe('float32');
    expect(labels.dtype).toBe('int32');
    expect(Array.from(await labels.data())).toEqual([8, 0, 6]);
    expect(Array.from(await images.data())).toEqual(Array.from(set.images.subarray(2 * 3072, 5 * 3072)));
    images.dispose();
    labels.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a range outside the set', () => {
    expect(() => cifarBatch(set, 4, 9)).toThrow(/range \[4, 9\) is not within the set's 8 records/);
    expect(() => cifarBatch(set, 3, 2)).toThrow(/range \[3, 2\)/);
  });
});
