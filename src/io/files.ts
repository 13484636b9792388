/** File-system side of io (Node only): reading and atomically writing natinv's file formats. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { CifarOptions, CifarSet, parseCifar } from './cifar';
import { SafetensorsFile, TensorData, parseSafetensors, serializeSafetensors } from './safetensors';
import { gunzip } from './node-zlib';

async function readBytes(file: string, what: string): Promise<Uint8Array> {
  try {
    const buffer = await fs.readFile(file);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (cause) {
    throw new Error(`cannot read ${what} ${file}: ${(cause as Error).message}`);
  }
}

/**
 * Writes `bytes` to `file` atomically: a temporary file in the same folder, then a rename, so
 * readers never see a half-written file. Creates the parent folder if needed.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(temp, bytes);
    await fs.rename(temp, file);
  } catch (cause) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new Error(`cannot write ${file}: ${(cause as Error).message}`);
  }
}

/** Reads and parses a safetensors file; errors name the path. */
export async function readSafetensorsFile(file: string): Promise<SafetensorsFile> {
  return parseSafetensors(await readBytes(file, 'safetensors file'), { source: file });
}

/** Serializes `tensors` (F32/I32, see serializeSafetensors) and writes them atomically to `file`. */
export async function writeSafetensorsFile(
  file: string,
  tensors: Record<string, TensorData>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

/**
 * Reads a CIFAR binary file, gunzipping it when it starts with the gzip magic (1f 8b); see
 * parseCifar for the options. Errors name the path.
 */
export async function readCifarFile(file: string, options: CifarOptions): Promise<CifarSet> {
  let bytes = await readBytes(file, 'CIFAR file');
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzip(bytes);
    } catch (cause) {
      throw new Error(`CIFAR file ${file}: gzip data does not decompress (${(cause as Error).message}); the file is corrupt or truncated.`);
    }
  }
  return parseCifar(bytes, { ...options, source: options.source ?? file });
}
