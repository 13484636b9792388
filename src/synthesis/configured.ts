/**
 * Running a {@link SynthesisConfiguration}: the method it names, called with exactly its settings
 * and the run's hooks, each batch carrying the run's record.
 */
import type { Teacher } from '../models/teacher';
import type { SynthesizedBatch } from './batch';
import { checkSynthesisConfiguration, type FastInversionConfiguration, type SynthesisConfiguration } from './configuration';
import { fastInversion, FastInversionOptions, FastInversionRunOptions } from './fast';
import { adaptiveDeepInversion, CompetitionOptions, deepInversion, naturalInversion } from './methods';
import { runRecordFor, type RunRecord } from './run-record';
import type { SynthesizerState } from './synthesizer';
import type { TrainerOptions } from './trainer';

/** What a run adds to its configuration: which batches, and the hooks that do not change the images. */
export interface ConfigurationRunOptions extends Pick<TrainerOptions, 'batches' | 'batchIndices' | 'signal' | 'onStep'> {
  /**
   * Adaptive DeepInversion's student and the function that trains it between batches (required
   * for that method, refused for the others): `adiStudent` builds both from the configuration.
   * The term's weight and temperature come from the configuration.
   */
  readonly competition?: Pick<CompetitionOptions, 'student' | 'trainStudent'>;
  /** The fast method only: the state its batches continue from (a saved run's). */
  readonly state?: SynthesizerState;
}

/** The fast method's options for a configuration (`steps` are its inner steps). */
export function fastInversionOptions(configuration: FastInversionConfiguration): FastInversionOptions {
  const { method: _method, steps, ...settings } = configuration;
  return { ...settings, innerSteps: steps };
}

/** Yields `batches`, each carrying `run`. */
export async function* withRunRecord(
  batches: AsyncIterable<SynthesizedBatch>,
  run: Promise<RunRecord> | RunRecord,
): AsyncGenerator<SynthesizedBatch> {
  const record = await run;
  for await (const batch of batches) yield { ...batch, run: record };
}

/**
 * The batches a configuration describes: the method called with exactly its settings, so the
 * same configuration, teacher and backend give identical batches. Each batch carries the run's
 * record (`batch.run`).
 */
export function synthesizeFromConfiguration(
  teacher: Teacher,
  configuration: SynthesisConfiguration,
  run: ConfigurationRunOptions = {},
): AsyncGenerator<SynthesizedBatch> {
  const checked = checkSynthesisConfiguration(configuration);
  return withRunRecord(configurationBatches(teacher, checked, run), runRecordFor(teacher, checked));
}

/**
 * {@link synthesizeFromConfiguration}'s batches without the record, for a caller that holds the
 * run's record already (a configured folder run attaches the one it wrote to the manifest).
 * `checked` has been through checkSynthesisConfiguration.
 */
export function configurationBatches(
  teacher: Teacher,
  checked: SynthesisConfiguration,
  run: ConfigurationRunOptions,
): AsyncGenerator<SynthesizedBatch> {
  const { competition, state, ...batches } = run;
  if (competition !== undefined && checked.method !== 'adaptiveDeepInversion') {
    throw new Error(`synthesizeFromConfiguration: competition applies to adaptiveDeepInversion, not ${checked.method}.`);
  }
  if (state !== undefined && checked.method !== 'fastInversion') {
    throw new Error(`synthesizeFromConfiguration: state applies to fastInversion, whose batches carry state; not to ${checked.method}.`);
  }
  switch (checked.method) {
    case 'deepInversion': {
      const { method: _method, ...settings } = checked;
      return deepInversion(teacher, { ...settings, ...batches });
    }
    case 'adaptiveDeepInversion': {
      if (competition === undefined) {
        throw new Error(
          'synthesizeFromConfiguration: adaptiveDeepInversion needs its student: pass run.competition ' +
            '(adiStudent(teacher, configuration) builds it from the configuration).',
        );
      }
      const { method: _method, student: _student, competition: term, ...settings } = checked;
      return adaptiveDeepInversion(teacher, { ...settings, ...batches, competition: { ...term, ...competition } });
    }
    case 'naturalInversion': {
      const { method: _method, ...settings } = checked;
      return naturalInversion(teacher, { ...settings, ...batches });
    }
    case 'fastInversion': {
      const options: FastInversionRunOptions = { ...fastInversionOptions(checked), ...batches, state };
      return fastInversion(teacher, options);
    }
  }
}
