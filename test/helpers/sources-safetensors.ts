import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Minimal safetensors reader for the sources tests (F32 and I32/I64 only), used until the
 * library's reader in src/io is available. Metadata values are parsed as JSON.
 */
export interface ParityFile {
  tensors: Record<string, tf.Tensor>;
  metadata: Record<string, unknown>;
}

export function readParityFile(file: string): ParityFile {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  const base = 8 + headerLength;
  const metadata: Record<string, unknown> = {};
  const tensors: Record<string, tf.Tensor> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') {
      for (const [mk, mv] of Object.entries(entry as Record<string, string>)) metadata[mk] = JSON.parse(mv);
      continue;
    }
    const { dtype, shape, data_offsets: [start, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const raw = bytes.subarray(base + start, base + end);
    const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    if (dtype === 'F32') tensors[key] = tf.tensor(new Float32Array(buffer), shape, 'float32');
    else if (dtype === 'I32') tensors[key] = tf.tensor(new Int32Array(buffer), shape, 'int32');
    else if (dtype === 'I64') tensors[key] = tf.tensor(Int32Array.from(new BigInt64Array(buffer), Number), shape, 'int32');
    else throw new Error(`readParityFile: ${key} has dtype ${dtype}, which this reader does not handle.`);
  }
  return { tensors, metadata };
}
