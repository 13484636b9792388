/**
 * Runs described by a {@link SynthesisConfiguration}, written to a dataset folder with everything
 * needed to make them again: the configuration, the teacher's name and weights fingerprint, the
 * backend (batches are bit-identical on one backend) and natinv's version. `reproduceRun` reads a
 * folder's record back and makes the same batches into another folder.
 */
import { createHash } from 'crypto';
import * as tf from '@tensorflow/tfjs-core';
import { version as NATINV_VERSION } from '../../package.json';
import type { Teacher } from '../models/teacher';
import { checkSynthesisConfiguration, synthesizeFromConfiguration, SynthesisConfiguration } from '../synthesis/configuration';
import type { StepReport } from '../synthesis/synthesize';
import { readManifest } from './reader';
import { FolderSummary, synthesizeToFolder, SynthesizeToFolderOptions } from './run';

/** The first 16 hex digits of the SHA-256 of a teacher's weights, in layer order: which weights made a run. */
export function weightsFingerprint(teacher: Teacher): string {
  const hash = createHash('sha256');
  for (const weight of teacher.model.getWeights()) {
    const data = weight.dataSync();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

/** What a configured run's manifest records besides the configuration itself. */
export interface RunRecord {
  readonly synthesis: SynthesisConfiguration;
  readonly teacher: { readonly name: string; readonly weightsSha256: string };
  readonly backend: string;
  readonly natinv: string;
}

/** The record a configured run writes into its manifest, for this teacher on the current backend. */
export function runRecordFor(teacher: Teacher, configuration: SynthesisConfiguration): RunRecord {
  return {
    synthesis: checkSynthesisConfiguration(configuration),
    teacher: { name: teacher.name, weightsSha256: weightsFingerprint(teacher) },
    backend: tf.getBackend(),
    natinv: NATINV_VERSION,
  };
}

export interface ConfiguredRunOptions extends Pick<
  SynthesizeToFolderOptions,
  'shard' | 'classNames' | 'png' | 'grid' | 'overwrite' | 'signal' | 'onBatch'
> {
  readonly folder: string;
  readonly teacher: Teacher;
  readonly configuration: SynthesisConfiguration;
  /** Batches in the whole run (indices 0 .. batches - 1). */
  readonly batches: number;
  readonly onStep?: (report: StepReport & { readonly batch: number }) => void | Promise<void>;
}

/**
 * Synthesizes the batches `configuration` describes into `folder`, resumable like
 * {@link synthesizeToFolder}, with the run's record in the manifest (see {@link RunRecord}).
 */
export async function synthesizeConfiguredRun(options: ConfiguredRunOptions): Promise<FolderSummary> {
  const { folder, teacher, batches, onStep, ...folderOptions } = options;
  const record = runRecordFor(teacher, options.configuration);
  const configuration = record.synthesis;
  return synthesizeToFolder({
    ...folderOptions,
    folder,
    batches,
    configuration: { ...record },
    batchSize: configuration.batchSize,
    trainer: (batchIndices, signal) => synthesizeFromConfiguration(teacher, configuration, { batchIndices, batches, signal, onStep }),
  });
}

/** The record of a folder written by {@link synthesizeConfiguredRun}, checked. */
export async function readRunRecord(folder: string): Promise<RunRecord & { readonly batches: number }> {
  const manifest = await readManifest(folder);
  const value = manifest.configuration as Partial<RunRecord>;
  if (value.synthesis === undefined || value.teacher === undefined) {
    throw new Error(
      `${folder} was not written from a synthesis configuration (its manifest has no 'synthesis' and 'teacher'), so it cannot be ` +
        'reproduced from its record. synthesizeConfiguredRun and natinv synthesize with DeepInversion or NaturalInversion write one; ' +
        'adi and fast runs do not.',
    );
  }
  const synthesis = checkSynthesisConfiguration(value.synthesis, `${folder}: synthesis`);
  return { ...(value as RunRecord), synthesis, batches: manifest.batches };
}

export interface ReproduceRunOptions extends Omit<ConfiguredRunOptions, 'folder' | 'configuration' | 'batches'> {
  /** The folder whose run to make again. */
  readonly from: string;
  /** Where to write it. */
  readonly to: string;
}

/**
 * Makes the run recorded in `from` again into `to`, with the same teacher (checked by its weights
 * fingerprint) on the same backend (checked): the batches come out identical.
 */
export async function reproduceRun(options: ReproduceRunOptions): Promise<FolderSummary> {
  const { from, to, teacher, ...rest } = options;
  const record = await readRunRecord(from);
  const fingerprint = weightsFingerprint(teacher);
  if (fingerprint !== record.teacher.weightsSha256) {
    throw new Error(
      `${from} was made from teacher ${record.teacher.name} with weights ${record.teacher.weightsSha256}; the teacher given has ` +
        `weights ${fingerprint}. Load the same weights to reproduce it.`,
    );
  }
  if (tf.getBackend() !== record.backend) {
    throw new Error(
      `${from} was made on the ${record.backend} backend and this process runs ${tf.getBackend()}; batches are identical ` +
        `on one backend only: start ${record.backend} (useBackend('${record.backend}')) to reproduce it.`,
    );
  }
  return synthesizeConfiguredRun({ ...rest, folder: to, teacher, configuration: record.synthesis, batches: record.batches });
}
