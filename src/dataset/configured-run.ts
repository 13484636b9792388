/**
 * Runs described by a {@link SynthesisConfiguration}, written to a dataset folder with everything
 * needed to make them again: the configuration, the teacher's name and weights fingerprint, the
 * backend (batches are bit-identical on one backend) and natinv's version. `reproduceRun` reads a
 * folder's record back and makes the same batches into another folder.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from '../models/teacher';
import { checkSynthesisConfiguration, SynthesisConfiguration } from '../synthesis/configuration';
import { configurationBatches, ConfigurationRunOptions, fastInversionOptions, withRunRecord } from '../synthesis/configured';
import { fastSynthesizer } from '../synthesis/fast';
import { runRecordFor, weightsFingerprint, type RunRecord } from '../synthesis/run-record';
import type { StepReport } from '../synthesis/synthesize';
import { readManifest } from './reader';
import { BatchTrainer, FolderConflictError, FolderSummary, synthesizeToFolder, SynthesizeToFolderOptions } from './run';
import { WHOLE_RUN } from './shard';
import { stateTrainer } from './state-trainer';

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
  /** Adaptive DeepInversion's student and its trainer (required for that method; `adiStudent` builds them). */
  readonly competition?: ConfigurationRunOptions['competition'];
  /**
   * Called with the batches this call will make, before the first is asked for (after the
   * folder was checked): to report a resume or size an estimate.
   */
  readonly onPlan?: (batchIndices: readonly number[]) => void;
  /** Extra plain-JSON values recorded in the manifest beside the run record (the folder's class names, ...). */
  readonly annotations?: Readonly<Record<string, unknown>>;
}

/**
 * The trainer of a configured run. The fast method carries its shared generator from batch to
 * batch through the folder's `state/` files (so it resumes exactly); Adaptive DeepInversion's
 * student learns from every batch in one process, so such a run can be neither sharded nor resumed.
 */
function configuredTrainer(options: ConfiguredRunOptions, record: RunRecord): BatchTrainer {
  const trainer = methodTrainer(options, record.synthesis);
  return (batchIndices, signal) => withRunRecord(trainer(batchIndices, signal), record);
}

function methodTrainer(options: ConfiguredRunOptions, configuration: SynthesisConfiguration): BatchTrainer {
  const { folder, teacher, batches, onStep, competition } = options;
  const shard = options.shard ?? WHOLE_RUN;
  if (configuration.method === 'fastInversion') {
    return async function* (batchIndices, signal) {
      const synthesizer = fastSynthesizer(teacher, fastInversionOptions(configuration));
      try {
        yield* stateTrainer(synthesizer, { folder, shard, onStep })(batchIndices, signal);
      } finally {
        synthesizer.dispose();
      }
    };
  }
  if (configuration.method === 'adaptiveDeepInversion') {
    if (shard.count > 1) {
      throw new Error(
        `synthesizeConfiguredRun: an adaptiveDeepInversion run cannot be sharded (shard ${shard.index}/${shard.count}): its ` +
          'student learns from every batch in turn, in one process. Run it unsharded, or use deepInversion or naturalInversion.',
      );
    }
    return (batchIndices, signal) => {
      if (batchIndices.length !== batches || batchIndices.some((index, i) => index !== i)) {
        const done = Array.from({ length: batches }, (_, i) => i).filter((i) => !batchIndices.includes(i));
        throw new FolderConflictError(
          folder,
          `${folder} already holds batch${done.length === 1 ? '' : 'es'} ${done.join(', ')} of this adaptiveDeepInversion run, which ` +
            'cannot resume: its student learned from them in the process that made them.',
        );
      }
      return configurationBatches(teacher, configuration, { batchIndices, batches, signal, onStep, competition });
    };
  }
  return (batchIndices, signal) => configurationBatches(teacher, configuration, { batchIndices, batches, signal, onStep });
}

/**
 * Synthesizes the batches `configuration` describes into `folder`, resumable like
 * {@link synthesizeToFolder}, with the run's record in the manifest (see {@link RunRecord}). The
 * fast method carries its shared generator through the folder's `state/` files, so it resumes
 * exactly; an adaptiveDeepInversion run needs `competition` and can be neither sharded nor resumed.
 */
export async function synthesizeConfiguredRun(options: ConfiguredRunOptions): Promise<FolderSummary> {
  const { folder, teacher, batches, onStep: _onStep, competition: _competition, onPlan, annotations, ...folderOptions } = options;
  const record = await runRecordFor(teacher, options.configuration);
  const configuration = record.synthesis;
  if (configuration.method === 'adaptiveDeepInversion' && options.competition === undefined) {
    throw new Error(
      'synthesizeConfiguredRun: an adaptiveDeepInversion run needs its student: pass competition (adiStudent(teacher, configuration) builds it).',
    );
  }
  const trainer = configuredTrainer(options, record);
  return synthesizeToFolder({
    ...folderOptions,
    folder,
    batches,
    configuration: { ...annotations, ...record },
    batchSize: configuration.batchSize,
    trainer: (batchIndices, signal) => {
      onPlan?.(batchIndices);
      return trainer(batchIndices, signal);
    },
  });
}

/** The record of a folder written by {@link synthesizeConfiguredRun}, checked. */
export async function readRunRecord(
  folder: string,
): Promise<RunRecord & { readonly batches: number; readonly annotations: Readonly<Record<string, unknown>> }> {
  const manifest = await readManifest(folder);
  const value = manifest.configuration as Partial<RunRecord>;
  if (value.synthesis === undefined || value.teacher === undefined) {
    throw new Error(
      `${folder} was not written from a synthesis configuration (its manifest has no 'synthesis' and 'teacher'), so it cannot be ` +
        'reproduced from its record. synthesizeConfiguredRun and natinv synthesize write one.',
    );
  }
  const synthesis = checkSynthesisConfiguration(value.synthesis, `${folder}: synthesis`);
  const { synthesis: _s, teacher, backend, natinv, ...annotations } = manifest.configuration as unknown as RunRecord;
  return { synthesis, teacher, backend, natinv, batches: manifest.batches, annotations };
}

/**
 * Options of {@link reproduceRun}. An adaptiveDeepInversion folder needs `competition`: build it
 * with `adiStudent(teacher, (await readRunRecord(from)).synthesis)`.
 */
export interface ReproduceRunOptions extends Omit<ConfiguredRunOptions, 'folder' | 'configuration' | 'batches' | 'annotations'> {
  /** The folder whose run to make again. */
  readonly from: string;
  /** Where to write it. */
  readonly to: string;
}

/**
 * Makes the run recorded in `from` again into `to`, with the same teacher (checked by its weights
 * fingerprint) on the same backend (checked): the batches come out identical, and the manifest
 * records the same run and annotations.
 */
export async function reproduceRun(options: ReproduceRunOptions): Promise<FolderSummary> {
  const { from, to, teacher, ...rest } = options;
  const record = await readRunRecord(from);
  const fingerprint = await weightsFingerprint(teacher);
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
  return synthesizeConfiguredRun({
    ...rest,
    folder: to,
    teacher,
    configuration: record.synthesis,
    batches: record.batches,
    annotations: record.annotations,
  });
}
