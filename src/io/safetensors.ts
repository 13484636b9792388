/**
 * safetensors read/write (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a UTF-8 JSON header, then the tensors' bytes back to back. Pure: no Node
 * imports (files.ts adds the file system).
 */
import * as tf from '@tensorflow/tfjs-core';
import { bfloat16ToNumber, float16ToNumber } from './halfFloat';

/** On-disk dtypes natinv reads. F16/BF16 widen to float32; I64 narrows to int32 (checked). */
export type StoredDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

/** A tensor as plain data, ready for `tf.tensor` or for writing. */
export interface TensorData {
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A decoded tensor, with the dtype it had in the file. */
export interface RawTensor extends TensorData {
  storedAs: StoredDtype;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** The header's `__metadata__` (string values; natinv's files hold JSON there). Empty if absent. */
  metadata: Record<string, string>;
  tensors: Record<string, RawTensor>;
}

/** Options of {@link parseSafetensors}. */
export interface ParseSafetensorsOptions {
  /** Where the bytes came from (a file path), quoted in every error. Default: none. */
  source?: string;
}

const ITEM_SIZE: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
const STORED_DTYPES = Object.keys(ITEM_SIZE) as StoredDtype[];
const METADATA_KEY = '__metadata__';

// Typed-array views read the host's byte order; safetensors is little-endian.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Sets an own enumerable property even for names like `__proto__`. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Parses a safetensors file. Every tensor is copied out of `bytes` (which may be an unaligned
 * view), so the result does not keep the input alive.
 *
 * Validates the whole layout: header length and JSON, dtypes (F32, F16, BF16, I32, I64), shapes,
 * data_offsets, byte lengths, truncation, and that the tensors cover the data section exactly
 * (no overlaps, gaps or trailing bytes). Errors name the problem, the tensor and `options.source`.
 */
export function parseSafetensors(bytes: Uint8Array, options: ParseSafetensorsOptions = {}): SafetensorsFile {
  const where = options.source !== undefined ? `safetensors file ${options.source}` : 'safetensors data';
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };

  if (bytes.length < 8) {
    fail(`${bytes.length} bytes is shorter than the 8-byte header length prefix; the file is empty or truncated.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthLow = view.getUint32(0, true);
  const lengthHigh = view.getUint32(4, true);
  const headerLength = lengthHigh * 2 ** 32 + lengthLow;
  if (headerLength > bytes.length - 8) {
    fail(
      `the header length prefix says ${headerLength} bytes but only ${bytes.length - 8} follow it; ` +
        `the file is truncated or not safetensors.`,
    );
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;

  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return fail('the header is not valid UTF-8; the file is corrupt or not safetensors.');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (cause) {
    return fail(`the header is not valid JSON (${(cause as Error).message}); the file is corrupt or not safetensors.`);
  }
  if (!isPlainObject(header)) {
    fail(`the header must be a JSON object, found ${Array.isArray(header) ? 'an array' : JSON.stringify(header)}.`);
  }
  const entries = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if (Object.prototype.hasOwnProperty.call(entries, METADATA_KEY)) {
    const raw = entries[METADATA_KEY];
    if (!isPlainObject(raw)) fail(`"${METADATA_KEY}" must be an object of string values.`);
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value !== 'string') {
        fail(`"${METADATA_KEY}" entry "${key}" must be a string, found ${JSON.stringify(value)}; encode structured values as JSON text.`);
      }
      setOwn(metadata, key, value as string);
    }
  }

  interface Span {
    name: string;
    begin: number;
    end: number;
  }
  const spans: Span[] = [];
  const tensors: Record<string, RawTensor> = {};
  for (const [name, info] of Object.entries(entries)) {
    if (name === METADATA_KEY) continue;
    const bad = (message: string): never => fail(`tensor "${name}": ${message}`);
    if (!isPlainObject(info)) bad('its header entry must be an object with dtype, shape and data_offsets.');
    const entry = info as Record<string, unknown>;

    const dtype = entry.dtype;
    if (typeof dtype !== 'string' || !(STORED_DTYPES as string[]).includes(dtype)) {
      bad(`unsupported dtype ${JSON.stringify(dtype)}; natinv reads ${STORED_DTYPES.join(', ')}.`);
    }
    const stored = dtype as StoredDtype;

    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      bad(`shape must be a list of non-negative integers, found ${JSON.stringify(shape)}.`);
    }
    const dims = shape as number[];

    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      bad(`data_offsets must be [begin, end] with integers 0 <= begin <= end, found ${JSON.stringify(offsets)}.`);
    }
    const [begin, end] = offsets as [number, number];

    const expected = product(dims) * ITEM_SIZE[stored];
    if (end - begin !== expected) {
      bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${dims.join(', ')}] of ${stored} ` + `needs ${expected}.`);
    }
    if (end > dataLength) {
      bad(`its data ends at byte ${end} of the data section but only ${dataLength} bytes follow the header; ` + `the file is truncated.`);
    }
    spans.push({ name, begin, end });
    setOwn(tensors, name, decode(bytes.subarray(dataStart + begin, dataStart + end), stored, dims, bad));
  }

  // The data section must be covered exactly once, in some order.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: Span | undefined;
  for (const span of spans) {
    if (span.begin < cursor) {
      fail(
        `tensors "${previous!.name}" [${previous!.begin}, ${previous!.end}) and "${span.name}" ` + `[${span.begin}, ${span.end}) overlap.`,
      );
    }
    if (span.begin > cursor) {
      const after = previous ? `after tensor "${previous.name}"` : 'at the start of the data section';
      fail(
        `${span.begin - cursor} unused bytes ${after}, before tensor "${span.name}" (offset ${span.begin}); tensors must be contiguous.`,
      );
    }
    cursor = span.end;
    previous = span;
  }
  if (cursor !== dataLength) {
    fail(`${dataLength - cursor} trailing bytes after the last tensor; tensors must cover the data section exactly.`);
  }
  return { metadata, tensors };
}

/** Copies and widens/narrows one tensor's bytes. `bytes` is exactly its data. */
function decode(bytes: Uint8Array, stored: StoredDtype, shape: number[], bad: (message: string) => never): RawTensor {
  const count = product(shape);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (stored) {
    case 'F32': {
      // slice() copies into a fresh, aligned buffer.
      const data = LITTLE_ENDIAN_HOST ? new Float32Array(bytes.slice().buffer) : new Float32Array(count);
      if (!LITTLE_ENDIAN_HOST) for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
      return { dtype: 'float32', shape, data, storedAs: stored };
    }
    case 'I32': {
      const data = LITTLE_ENDIAN_HOST ? new Int32Array(bytes.slice().buffer) : new Int32Array(count);
      if (!LITTLE_ENDIAN_HOST) for (let i = 0; i < count; i++) data[i] = view.getInt32(4 * i, true);
      return { dtype: 'int32', shape, data, storedAs: stored };
    }
    case 'F16':
    case 'BF16': {
      const widen = stored === 'F16' ? float16ToNumber : bfloat16ToNumber;
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = widen(view.getUint16(2 * i, true));
      return { dtype: 'float32', shape, data, storedAs: stored };
    }
    case 'I64': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const low = view.getInt32(8 * i, true);
        const high = view.getInt32(8 * i + 4, true);
        // Fits in int32 exactly when the high word is the sign extension of the low word.
        if (high !== low >> 31) {
          bad(
            `I64 element ${i} is ${view.getBigInt64(8 * i, true)}, outside the int32 range natinv decodes to; ` +
              `store this tensor as I32 or F32 instead.`,
          );
        }
        data[i] = low;
      }
      return { dtype: 'int32', shape, data, storedAs: stored };
    }
  }
}

/**
 * Serializes tensors as safetensors: F32 for float32, I32 for int32, tensors in sorted name order,
 * `__metadata__` written when `metadata` is given. The header is padded with spaces so the data
 * section starts on an 8-byte boundary.
 */
export function serializeSafetensors(tensors: Record<string, TensorData>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new Error('serializeSafetensors: metadata must be an object of string values.');
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(`serializeSafetensors: metadata "${key}" must be a string; JSON.stringify structured values first.`);
      }
    }
    setOwn(header, METADATA_KEY, { ...metadata });
  }

  const names = Object.keys(tensors).sort();
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    if (name === METADATA_KEY) throw new Error(`serializeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor.`);
    const { dtype, shape, data } = tensors[name];
    const bad = (message: string): never => {
      throw new Error(`serializeSafetensors: tensor "${name}": ${message}`);
    };
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`shape must be a list of non-negative integers, found ${JSON.stringify(shape)}.`);
    }
    if (dtype === 'float32' ? !(data instanceof Float32Array) : dtype === 'int32' ? !(data instanceof Int32Array) : true) {
      bad(
        `dtype ${JSON.stringify(dtype)} needs ${dtype === 'int32' ? 'an Int32Array' : 'a Float32Array'} (float32 and int32 are supported).`,
      );
    }
    if (data.length !== product(shape)) {
      bad(`data has ${data.length} elements but shape [${shape.join(', ')}] needs ${product(shape)}.`);
    }
    const chunk = new Uint8Array(data.length * 4);
    if (LITTLE_ENDIAN_HOST) {
      chunk.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else {
      const out = new DataView(chunk.buffer);
      for (let i = 0; i < data.length; i++) {
        if (dtype === 'float32') out.setFloat32(4 * i, data[i], true);
        else out.setInt32(4 * i, data[i], true);
      }
    }
    setOwn(header, name, { dtype: dtype === 'float32' ? 'F32' : 'I32', shape: [...shape], data_offsets: [offset, offset + chunk.length] });
    chunks.push(chunk);
    offset += chunk.length;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const result = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(result.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  result.set(json, 8);
  result.fill(0x20, 8 + json.length, 8 + headerLength);
  let cursor = 8 + headerLength;
  for (const chunk of chunks) {
    result.set(chunk, cursor);
    cursor += chunk.length;
  }
  return result;
}

/** A tf.Tensor holding `raw` (float32 or int32). The caller owns (and disposes) it. */
export function rawToTensor(raw: TensorData): tf.Tensor {
  return tf.tensor(raw.data, raw.shape, raw.dtype);
}

/**
 * Reads a tensor back to plain data for {@link serializeSafetensors}. Asynchronous (`tensor.data()`),
 * so it does not block on GPU backends; does not dispose `t`. bool tensors become int32 0/1.
 */
export async function tensorToRaw(t: tf.Tensor): Promise<RawTensor> {
  const shape = [...t.shape];
  if (t.dtype === 'float32') {
    return { dtype: 'float32', shape, data: new Float32Array((await t.data()) as Float32Array), storedAs: 'F32' };
  }
  if (t.dtype === 'int32' || t.dtype === 'bool') {
    return { dtype: 'int32', shape, data: new Int32Array((await t.data()) as Int32Array | Uint8Array), storedAs: 'I32' };
  }
  throw new Error(`tensorToRaw: a ${t.dtype} tensor cannot be stored; cast it to float32 or int32 first (tf.cast).`);
}

/**
 * Parses the metadata value `key` as JSON (natinv's and the parity files' convention). Throws,
 * naming the key, when it is absent (listing the keys present) or not valid JSON.
 */
export function metadataJson<T = unknown>(file: Pick<SafetensorsFile, 'metadata'>, key: string): T {
  if (!Object.prototype.hasOwnProperty.call(file.metadata, key)) {
    const present = Object.keys(file.metadata);
    throw new Error(`safetensors metadata has no key "${key}"; present: ${present.length > 0 ? present.join(', ') : '(none)'}.`);
  }
  const text = file.metadata[key];
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    const preview = text.length > 60 ? `${text.slice(0, 60)}...` : text;
    throw new Error(`safetensors metadata "${key}" is not valid JSON (${(cause as Error).message}): ${JSON.stringify(preview)}.`);
  }
}
