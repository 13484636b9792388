import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { metadataJson, parseSafetensors, rawToTensor } from '../../src/io/safetensors';

/** A parity file as tensors (caller disposes them) and JSON-parsed metadata. */
export interface ParityFile {
  tensors: Record<string, tf.Tensor>;
  metadata: Record<string, unknown>;
}

/** Reads a parity safetensors file with the library's reader. */
export function readParityFile(file: string): ParityFile {
  const parsed = parseSafetensors(new Uint8Array(fs.readFileSync(file)), { source: file });
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, raw] of Object.entries(parsed.tensors)) tensors[name] = rawToTensor(raw);
  const metadata: Record<string, unknown> = {};
  for (const key of Object.keys(parsed.metadata)) metadata[key] = metadataJson(parsed, key);
  return { tensors, metadata };
}
