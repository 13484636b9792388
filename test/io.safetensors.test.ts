import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { metadataJson, parseSafetensors, rawToTensor, serializeSafetensors, tensorToRaw } from '../src/io/safetensors';
import { MODELS_DIR, PARITY_DIR } from './helpers/shared';

/** A safetensors file from a header (object or raw text/bytes) and a data section. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json =
    header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, headerLength ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (shape: number[], begin: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)],
});

/** The header of a real file read independently of the parser under test. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a raw JSON header, checked field by field below
function readHeader(bytes: Uint8Array): Record<string, any> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
}

function readShared(file: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(file));
}

describe('serializeSafetensors / parseSafetensors round trip', () => {
  const tensors = {
    weight: { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, Infinity, -0, 6]) },
    labels: { dtype: 'int32' as const, shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
    scalar: { dtype: 'float32' as const, shape: [], data: new Float32Array([0.25]) },
    empty: { dtype: 'int32' as const, shape: [0, 5], data: new Int32Array(0) },
  };

  it('reproduces tensors and metadata', () => {
    const bytes = serializeSafetensors(tensors, { note: 'hi', json: '[1,2]' });
    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({ note: 'hi', json: '[1,2]' });
    expect(Object.keys(file.tensors).sort()).toEqual(['empty', 'labels', 'scalar', 'weight']);
    for (const [name, t] of Object.entries(tensors)) {
      const got = file.tensors[name];
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.storedAs).toBe(t.dtype === 'float32' ? 'F32' : 'I32');
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
      expect(got.data.constructor).toBe(t.data.constructor);
    }
    expect(Object.is(file.tensors.weight.data[4], -0)).toBe(true);
  });

  it('writes sorted data, an 8-byte aligned space-padded header and no metadata when none is given', () => {
    const bytes = serializeSafetensors(tensors);
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect(n % 8).toBe(0);
    const text = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    const header = readHeader(bytes);
    expect(header.__metadata__).toBeUndefined();
    const byOffset = Object.keys(header).sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
    expect(byOffset.filter((k) => header[k].data_offsets[1] > header[k].data_offsets[0])).toEqual(['labels', 'scalar', 'weight']);
    expect(parseSafetensors(bytes).metadata).toEqual({});
  });

  it('parses from an unaligned view and copies the data out', () => {
    const bytes = serializeSafetensors({ a: tensors.weight });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const file = parseSafetensors(view);
    expect(Array.from(file.tensors.a.data)).toEqual(Array.from(tensors.weight.data));
    view.fill(0);
    expect(file.tensors.a.data[0]).toBe(1);
  });

  it('rejects what it cannot write', () => {
    expect(() => serializeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } })).toThrow(
      /tensor "a": data has 2 elements but shape \[3\] needs 3/,
    );
    expect(() => serializeSafetensors({ a: { dtype: 'int32', shape: [2], data: new Float32Array(2) } })).toThrow(
      /tensor "a": dtype "int32" needs an Int32Array/,
    );
    expect(() => serializeSafetensors({ a: { dtype: 'float32', shape: [-1], data: new Float32Array(0) } })).toThrow(
      /tensor "a": shape must be a list of non-negative integers/,
    );
    expect(() => serializeSafetensors({ __metadata__: tensors.scalar })).toThrow(/"__metadata__" is reserved/);
    expect(() => serializeSafetensors({}, { x: 1 as unknown as string })).toThrow(/metadata "x" must be a string/);
  });
});

describe('16-bit and 64-bit decoding', () => {
  function encoded(dtype: string, words: number[], wordBytes: 2 | 8): Uint8Array {
    const data = new Uint8Array(words.length * wordBytes);
    const view = new DataView(data.buffer);
    words.forEach((w, i) => (wordBytes === 2 ? view.setUint16(2 * i, w, true) : view.setBigInt64(8 * i, BigInt(w), true)));
    return build({ t: { dtype, shape: [words.length], data_offsets: [0, data.length] } }, data);
  }

  it('decodes F16 including subnormals, infinities and NaN', () => {
    const t = parseSafetensors(encoded('F16', [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000], 2)).tensors
      .t;
    expect(t.dtype).toBe('float32');
    expect(t.storedAs).toBe('F16');
    const d = Array.from(t.data);
    expect(d.slice(0, 8)).toEqual([1, -2, 0.333251953125, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity]);
    expect(d[8]).toBeNaN();
    expect(Object.is(d[9], -0)).toBe(true);
  });

  it('decodes BF16', () => {
    const t = parseSafetensors(encoded('BF16', [0x3f80, 0xc040, 0x4049, 0x7f80, 0x3c00], 2)).tensors.t;
    expect(t.storedAs).toBe('BF16');
    expect(Array.from(t.data)).toEqual([1, -3, 3.140625, Infinity, 2 ** -7]);
  });

  it('decodes I64 to int32 and refuses values outside its range', () => {
    const t = parseSafetensors(encoded('I64', [1, -1, 2147483647, -2147483648, 0], 8)).tensors.t;
    expect(t.dtype).toBe('int32');
    expect(t.storedAs).toBe('I64');
    expect(t.data).toBeInstanceOf(Int32Array);
    expect(Array.from(t.data)).toEqual([1, -1, 2147483647, -2147483648, 0]);
    expect(() => parseSafetensors(encoded('I64', [0, 2147483648], 8))).toThrow(
      /tensor "t": I64 element 1 is 2147483648, outside the int32 range/,
    );
    expect(() => parseSafetensors(encoded('I64', [-2147483649], 8))).toThrow(/I64 element 0 is -2147483649/);
  });
});

describe('parseSafetensors errors', () => {
  const data8 = new Uint8Array(8);

  it.each<[string, () => Uint8Array, RegExp]>([
    ['a file shorter than 8 bytes', () => new Uint8Array(5), /5 bytes is shorter than the 8-byte header length prefix/],
    ['a header length past the end', () => build('{}', new Uint8Array(0), 100), /header length prefix says 100 bytes but only 2 follow/],
    [
      'a header length with the high word set',
      () => {
        const b = build('{}');
        new DataView(b.buffer).setUint32(4, 1, true);
        return b;
      },
      /header length prefix says 4294967298 bytes/,
    ],
    ['a header that is not UTF-8', () => build(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /header is not valid UTF-8/],
    ['a header that is not JSON', () => build('{"a": '), /header is not valid JSON/],
    ['a header that is an array', () => build('[1, 2]'), /header must be a JSON object, found an array/],
    ['a header that is null', () => build('null'), /header must be a JSON object, found null/],
    ['an entry that is not an object', () => build({ w: 3 }), /tensor "w": its header entry must be an object/],
    [
      'an unsupported dtype',
      () => build({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, data8),
      /tensor "w": unsupported dtype "F64"; natinv reads F32, F16, BF16, I32, I64/,
    ],
    ['a missing dtype', () => build({ w: { shape: [1], data_offsets: [0, 4] } }), /tensor "w": unsupported dtype undefined/],
    [
      'a negative dimension',
      () => build({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }),
      /tensor "w": shape must be a list of non-negative integers, found \[-1\]/,
    ],
    [
      'a fractional dimension',
      () => build({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 0] } }),
      /tensor "w": shape must be a list of non-negative integers/,
    ],
    [
      'a shape that is not a list',
      () => build({ w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, data8),
      /tensor "w": shape must be a list/,
    ],
    [
      'offsets in the wrong order',
      () => build({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, data8),
      /tensor "w": data_offsets must be \[begin, end\] with integers 0 <= begin <= end, found \[8,4\]/,
    ],
    [
      'offsets of the wrong length',
      () => build({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, data8),
      /tensor "w": data_offsets must be \[begin, end\]/,
    ],
    [
      'a byte length that does not match the shape',
      () => build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8),
      /tensor "w": data_offsets \[0, 8\] span 8 bytes but shape \[3\] of F32 needs 12/,
    ],
    [
      'offsets past the end of the data',
      () => build({ w: f32([4], 0) }, data8),
      /tensor "w": its data ends at byte 16 of the data section but only 8 bytes follow the header; the file is truncated/,
    ],
    [
      'overlapping tensors',
      () => build({ a: f32([2], 0), b: f32([2], 4) }, new Uint8Array(12)),
      /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/,
    ],
    [
      'a gap between tensors',
      () => build({ a: f32([1], 0), b: f32([1], 8) }, new Uint8Array(12)),
      /4 unused bytes after tensor "a", before tensor "b"/,
    ],
    ['a gap at the start', () => build({ a: f32([1], 4) }, data8), /4 unused bytes at the start of the data section/],
    ['trailing bytes', () => build({ a: f32([1], 0) }, data8), /4 trailing bytes after the last tensor/],
    ['metadata that is not an object', () => build({ __metadata__: ['x'] }), /"__metadata__" must be an object of string values/],
    [
      'a metadata value that is not a string',
      () => build({ __metadata__: { lr: 0.1 } }),
      /"__metadata__" entry "lr" must be a string, found 0.1/,
    ],
  ])('reports %s', (_, make, message) => {
    expect(() => parseSafetensors(make())).toThrow(message);
  });

  it('names the source in every message', () => {
    expect(() => parseSafetensors(new Uint8Array(3), { source: '/tmp/w.safetensors' })).toThrow(
      /^safetensors file \/tmp\/w\.safetensors: 3 bytes/,
    );
    expect(() => parseSafetensors(build({ a: f32([1], 0) }, data8), { source: 'x.st' })).toThrow(/^safetensors file x\.st: 4 trailing/);
  });

  it('reports a truncated copy of a real file, naming the tensor cut off', () => {
    const bytes = readShared(path.join(MODELS_DIR, 'cifar10_resnet20.safetensors'));
    const header = readHeader(bytes);
    const last = Object.keys(header)
      .filter((k) => k !== '__metadata__')
      .reduce((a, b) => (header[a].data_offsets[1] > header[b].data_offsets[1] ? a : b));
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 100), { source: 'resnet20' })).toThrow(
      new RegExp(`tensor "${last.replace(/\./g, '\\.')}": its data ends at .* the file is truncated`),
    );
    expect(() => parseSafetensors(bytes.subarray(0, 1000))).toThrow(/header length prefix says \d+ bytes but only 992 follow/);
  });
});

describe('real files', () => {
  function checkAgainstHeader(bytes: Uint8Array): ReturnType<typeof parseSafetensors> {
    const file = parseSafetensors(bytes);
    const header = readHeader(bytes);
    const { __metadata__: metadata, ...entries } = header;
    expect(file.metadata).toEqual(metadata);
    expect(Object.keys(file.tensors).sort()).toEqual(Object.keys(entries).sort());
    const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw JSON header entries
    for (const [name, entry] of Object.entries<any>(entries)) {
      const t = file.tensors[name];
      expect(t.shape).toEqual(entry.shape);
      expect(t.storedAs).toBe(entry.dtype);
      // First and last element against the raw little-endian bytes.
      const view = new DataView(bytes.buffer, bytes.byteOffset + 8 + n);
      if (t.data.length > 0) {
        expect(t.data[0]).toBe(view.getFloat32(entry.data_offsets[0], true));
        expect(t.data[t.data.length - 1]).toBe(view.getFloat32(entry.data_offsets[1] - 4, true));
      }
    }
    return file;
  }

  it('reads the ResNet-20 teacher', () => {
    const file = checkAgainstHeader(readShared(path.join(MODELS_DIR, 'cifar10_resnet20.safetensors')));
    expect(Object.keys(file.tensors)).toHaveLength(97);
    expect(file.tensors['conv1.weight'].shape).toEqual([16, 3, 3, 3]);
    expect(file.tensors['layer1.0.conv1.weight'].shape).toEqual([16, 16, 3, 3]);
    expect(file.tensors['linear.weight'].shape).toEqual([10, 64]);
    expect(Object.keys(file.metadata).sort()).toEqual(['best_prec1', 'sha256_of_source', 'source']);
    expect(metadataJson<number>(file, 'best_prec1')).toBeCloseTo(91.78, 2);
  });

  it.each(fs.readdirSync(PARITY_DIR).filter((f) => f.endsWith('.safetensors')))('reads parity/%s', (name) => {
    const file = checkAgainstHeader(readShared(path.join(PARITY_DIR, name)));
    expect(Object.keys(file.metadata).length).toBeGreaterThan(0);
    for (const key of Object.keys(file.metadata)) expect(() => metadataJson(file, key)).not.toThrow();
  });

  it('finds the documented tensors and metadata of teacher_logits', () => {
    const file = parseSafetensors(readShared(path.join(PARITY_DIR, 'teacher_logits.safetensors')));
    const [count, ...image] = file.tensors.images01.shape;
    expect(image).toEqual([32, 32, 3]);
    const stem = metadataJson<string>(file, 'model');
    const classes = Number(/^cifar(10|100)_resnet\d+$/.exec(stem)?.[1]);
    expect(file.tensors.logits.shape).toEqual([count, classes]);
    expect(fs.existsSync(path.join(MODELS_DIR, `${stem}.safetensors`))).toBe(true);
    expect(metadataJson<number[]>(file, 'normalize_mean')).toHaveLength(3);
  });
});

describe('metadataJson', () => {
  const file = { metadata: { ok: '{"a": [1, 2]}', bad: '{not json' } };

  it('parses JSON values', () => {
    expect(metadataJson<{ a: number[] }>(file, 'ok')).toEqual({ a: [1, 2] });
  });

  it('names a missing key and lists the present ones', () => {
    expect(() => metadataJson(file, 'nope')).toThrow(/metadata has no key "nope"; present: ok, bad/);
    expect(() => metadataJson({ metadata: {} }, 'x')).toThrow(/present: \(none\)/);
  });

  it('names a key whose value is not JSON', () => {
    expect(() => metadataJson(file, 'bad')).toThrow(/metadata "bad" is not valid JSON .*"\{not json"/);
  });
});

describe('tensor conversion', () => {
  it('rawToTensor and tensorToRaw round trip without leaking', async () => {
    const before = tf.memory().numTensors;
    const raw = { dtype: 'float32' as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
    const t = rawToTensor(raw);
    expect(t.shape).toEqual([2, 2]);
    expect(t.dtype).toBe('float32');
    const back = await tensorToRaw(t);
    expect(back).toEqual({ ...raw, storedAs: 'F32' });
    t.dispose();

    const i = rawToTensor({ dtype: 'int32', shape: [3], data: new Int32Array([7, -8, 9]) });
    expect(i.dtype).toBe('int32');
    expect(await tensorToRaw(i)).toEqual({ dtype: 'int32', shape: [3], data: new Int32Array([7, -8, 9]), storedAs: 'I32' });
    i.dispose();

    const b = tf.tensor1d([true, false], 'bool');
    expect(await tensorToRaw(b)).toEqual({ dtype: 'int32', shape: [2], data: new Int32Array([1, 0]), storedAs: 'I32' });
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tensorToRaw copies: later writes to the raw data do not touch the tensor', async () => {
    const t = tf.tensor1d([1, 2, 3]);
    const raw = await tensorToRaw(t);
    raw.data[0] = 100;
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
    t.dispose();
  });

  it('tensorToRaw refuses dtypes safetensors files here cannot hold', async () => {
    const s = tf.complex([1], [2]);
    await expect(tensorToRaw(s)).rejects.toThrow(/a complex64 tensor cannot be stored; cast it to float32 or int32/);
    s.dispose();
  });
});
