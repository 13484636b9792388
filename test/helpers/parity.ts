import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { metadataJson, parseSafetensors, rawToTensor, SafetensorsFile } from '../../src/io/safetensors';
import { PARITY_DIR } from './shared';

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
