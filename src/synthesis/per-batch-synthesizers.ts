/**
 * DeepInversion and NaturalInversion as {@link BatchSynthesizer}s: both start every batch from
 * scratch, so they carry no state between batches, and batch i depends only on (seed, i) and the
 * student it competes against.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Teacher } from '../models/teacher';
import { tapNetwork } from '../taps';
import type { SynthesizedBatch } from './batch';
import {
  CompetitionTermOptions,
  DeepInversionOptions,
  deepInversionPlan,
  MethodPlan,
  NaturalInversionOptions,
  naturalInversionPlan,
} from './methods';
import type { BatchSynthesizer, SynthesizeBatchOptions, SynthesizerState } from './synthesizer';
import { runBatches } from './trainer';

/** What a per-batch synthesizer takes: a method's options, without the batch selection and the per-call parts. */
export type PerBatchOptions<O> = Omit<O, 'competition' | 'batches' | 'batchIndices' | 'onStep' | 'signal'> & {
  /**
   * Adds ADI's competition term against the student given to each `synthesizeBatch` call
   * (true: the paper's weight 0.2 and temperature 3). Default false.
   */
  readonly competition?: boolean | CompetitionTermOptions;
};

/** Options of {@link deepInversionSynthesizer}: deepInversion's, per batch. */
export type DeepInversionSynthesizerOptions = PerBatchOptions<DeepInversionOptions>;
/** Options of {@link naturalInversionSynthesizer}: naturalInversion's, per batch. */
export type NaturalInversionSynthesizerOptions = PerBatchOptions<NaturalInversionOptions>;

function competitionTerm(value: boolean | CompetitionTermOptions | undefined): CompetitionTermOptions | undefined {
  if (value === true) return {};
  if (value == null || value === false) return undefined;
  if (typeof value !== 'object') throw new Error(`competition must be true, false or { weight, temperature }, got ${String(value)}.`);
  return value;
}

/** Throws unless the teacher has the BatchNorm layers the method's R_BN term reads. */
function requireBatchNorm(teacher: Teacher, what: string, bnWeight: number | undefined): void {
  if (bnWeight === 0) return;
  if (tapNetwork(teacher.model).batchNormLayers.length === 0) {
    throw new Error(
      `${what}: teacher '${teacher.name}' has no BatchNormalization layer, and the method matches BatchNorm statistics ` +
        '(R_BN). Give a teacher with BatchNorm, or set weights.bn to 0 (the images will then be far less natural).',
    );
  }
}

class PerBatchSynthesizer implements BatchSynthesizer {
  readonly method: string;

  constructor(
    private readonly teacher: Teacher,
    private readonly resolved: MethodPlan,
    private readonly options: { readonly seed?: number; readonly labels?: DeepInversionOptions['labels'] },
  ) {
    this.method = resolved.method;
  }

  async synthesizeBatch(index: number, call: SynthesizeBatchOptions = {}): Promise<SynthesizedBatch | undefined> {
    const { method, steps, batchSize, plan } = this.resolved;
    const student: tfl.LayersModel | undefined = call.student;
    const batches = runBatches(
      this.teacher,
      method,
      { ...this.options, batchIndices: [index], steps, batchSize, signal: call.signal, onStep: call.onStep },
      (i, labels) => plan(i, labels, student),
    );
    for await (const batch of batches) return batch;
    return undefined;
  }

  saveState(): SynthesizerState {
    return { tensors: {}, json: {} };
  }

  restoreState(): void {
    // Nothing carries over from one batch to the next.
  }

  dispose(): void {
    // Every batch's source is disposed when the batch is done.
  }
}

/**
 * DeepInversion batch by batch (`competition: true` makes it ADI against the student passed to
 * each call). Defaults are deepInversion's (the paper's CIFAR setting).
 */
export function deepInversionSynthesizer(teacher: Teacher, options: DeepInversionSynthesizerOptions = {}): BatchSynthesizer {
  requireBatchNorm(teacher, 'deepInversionSynthesizer', options.weights?.bn);
  const resolved = deepInversionPlan(teacher, options, competitionTerm(options.competition));
  return new PerBatchSynthesizer(teacher, resolved, options);
}

/**
 * NaturalInversion batch by batch (a fresh generator, FTP and ACS per batch; `competition: true`
 * adds ADI's term against the student passed to each call). Defaults are naturalInversion's.
 */
export function naturalInversionSynthesizer(teacher: Teacher, options: NaturalInversionSynthesizerOptions = {}): BatchSynthesizer {
  requireBatchNorm(teacher, 'naturalInversionSynthesizer', options.weights?.bn);
  const resolved = naturalInversionPlan(teacher, options, competitionTerm(options.competition));
  return new PerBatchSynthesizer(teacher, resolved, options);
}
