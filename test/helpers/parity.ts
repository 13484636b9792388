import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { metadataJson, parseSafetensors, rawToTensor, SafetensorsFile } from '../../src/io/safetensors';
import { PARITY_DIR } from './shared';

/** A parity file as tensors (caller disposes them) and JSON-parsed metadata. */
export interface ParityRecord {
  tensors: Record<string, tf.Tensor>;
  metadata: Record<string, unknown>;
}

/** Every tensor and metadata value of `name` in the parity folder, read with the library's reader. */
export function readParityFile(name: string): ParityRecord {
  const file = new ParityFile(name);
  const tensors = Object.fromEntries(file.names().map((tensor) => [tensor, file.tensor(tensor)]));
  const metadata = Object.fromEntries(file.metaKeys().map((key) => [key, file.meta(key)]));
  return { tensors, metadata };
}

/**
 * The layer whose output is PyTorch's `model.<stage>` in a zoo ResNet: the stage's last block
 * (`layer1` -> `layer1.2` in ResNet-20, `layer1.8` in ResNet-56).
 */
export function stageOutput(layerNames: readonly string[], stage: string): string {
  const blocks = layerNames
    .map((name) => new RegExp(`^${stage.replace('.', '\\.')}\\.(\\d+)$`).exec(name))
    .filter((m): m is RegExpExecArray => m != null);
  if (blocks.length === 0) throw new Error(`no block output for stage ${stage}`);
  return blocks.sort((a, b) => Number(b[1]) - Number(a[1]))[0][0];
}

/** One parity vector file from NATINV_PARITY_DIR (default ../shared/parity). */
export class ParityFile {
  readonly file: SafetensorsFile;

  constructor(readonly name: string) {
    const source = path.join(PARITY_DIR, name);
    this.file = parseSafetensors(new Uint8Array(fs.readFileSync(source)), { source });
  }

  has(name: string): boolean {
    return name in this.file.tensors;
  }

  tensor(name: string): tf.Tensor {
    const raw = this.file.tensors[name];
    if (raw == null) throw new Error(`${this.name} has no tensor '${name}'`);
    return rawToTensor(raw);
  }

  names(): string[] {
    return Object.keys(this.file.tensors);
  }

  meta<T = unknown>(key: string): T {
    return metadataJson<T>(this.file, key);
  }

  metaKeys(): string[] {
    return Object.keys(this.file.metadata);
  }
}
