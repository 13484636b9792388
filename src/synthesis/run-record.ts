/**
 * What made a batch, as plain data: the run's configuration, the teacher (name and a fingerprint
 * of its weights), the backend (batches are bit-identical on one backend only) and natinv's
 * version. Run folders record it in their manifest; batches made from a configuration carry it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { version as NATINV_VERSION } from '../../package.json';
import type { Teacher } from '../models/teacher';
import { checkSynthesisConfiguration, type SynthesisConfiguration } from './configuration';

/** The record of a run: everything needed to make its batches again. */
export interface RunRecord {
  readonly synthesis: SynthesisConfiguration;
  readonly teacher: { readonly name: string; readonly weightsSha256: string };
  readonly backend: string;
  readonly natinv: string;
}

/**
 * The first 16 hex digits of the SHA-256 of a teacher's weights, in layer order: which weights
 * made a run. Uses the platform's Web Crypto (browsers, Node 20+).
 */
export async function weightsFingerprint(teacher: Teacher): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) throw new Error('weightsFingerprint needs Web Crypto (crypto.subtle): Node 20 or later, or a browser.');
  const weights = await Promise.all(teacher.model.getWeights().map((weight) => weight.data()));
  const bytes = new Uint8Array(weights.reduce((total, data) => total + data.byteLength, 0));
  let offset = 0;
  for (const data of weights) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    offset += data.byteLength;
  }
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  return Array.from(digest.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The record of a run of `configuration` (checked) from this teacher on the current backend. */
export async function runRecordFor(teacher: Teacher, configuration: SynthesisConfiguration): Promise<RunRecord> {
  return {
    synthesis: checkSynthesisConfiguration(configuration),
    teacher: { name: teacher.name, weightsSha256: await weightsFingerprint(teacher) },
    backend: tf.getBackend(),
    natinv: NATINV_VERSION,
  };
}
