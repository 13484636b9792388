/**
 * A resumable state on disk (Node only): its tensors in a safetensors file, and a JSON record
 * naming that file, written last and atomically, so a process killed at any point leaves the
 * previous complete state readable. Shared by the training loop's and the data-free loop's
 * checkpoint folders.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '../io/files';
import { rawToTensor, tensorToRaw } from '../io/safetensors';

/** A record: its format and version, the run's configuration as its caller gave it (a resume with another is refused), the run's progress, and the file name of its tensors. */
export interface SnapshotRecord<P = unknown> {
  readonly format: string;
  readonly version: number;
  readonly configuration: Record<string, unknown>;
  readonly progress: P;
  readonly tensors: string;
}

/**
 * Writes `tensors` into `folder/<record.tensors>`, then `record` into `folder/<recordFile>`; then
 * removes the other tensor files an earlier write left (names matching `tensorFiles`).
 */
export async function writeSnapshotFiles(
  folder: string,
  recordFile: string,
  record: SnapshotRecord,
  tensors: Readonly<Record<string, tf.Tensor>>,
  tensorFiles: RegExp,
): Promise<void> {
  const raw: Record<string, Awaited<ReturnType<typeof tensorToRaw>>> = {};
  for (const [name, t] of Object.entries(tensors)) raw[name] = await tensorToRaw(t);
  await writeSafetensorsFile(path.join(folder, record.tensors), raw);
  await writeFileAtomic(path.join(folder, recordFile), new TextEncoder().encode(`${JSON.stringify(record, null, 2)}\n`));
  for (const name of await fs.readdir(folder)) {
    if (tensorFiles.test(name) && name !== record.tensors) await fs.rm(path.join(folder, name), { force: true });
  }
}

/**
 * Reads `folder/<recordFile>` and the tensors it names (the caller disposes them); undefined when
 * there is no record. Errors name the file, and `what` it should have been.
 */
export async function readSnapshotFiles<P>(
  folder: string,
  recordFile: string,
  expected: { readonly format: string; readonly version: number },
  what: string,
): Promise<{ record: SnapshotRecord<P>; tensors: Record<string, tf.Tensor> } | undefined> {
  const file = path.join(folder, recordFile);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the ${what} ${file}: ${(cause as Error).message}.`);
  }
  let record: SnapshotRecord<P>;
  try {
    record = JSON.parse(text) as SnapshotRecord<P>;
  } catch (cause) {
    throw new Error(`cannot read the ${what} ${file}: ${(cause as Error).message}. Delete the folder to start over.`);
  }
  if (record.format !== expected.format || record.version !== expected.version) {
    throw new Error(`${file} is not a natinv ${what} (format ${expected.format}, version ${expected.version}).`);
  }
  const stored = await readSafetensorsFile(path.join(folder, record.tensors));
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, raw] of Object.entries(stored.tensors)) tensors[name] = rawToTensor(raw);
  return { record, tensors };
}
