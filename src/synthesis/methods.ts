import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { Augmentation, compose, flip, jitter } from '../augment';
import type { Teacher } from '../models/teacher';
import { bnStatistics, competition, crossEntropy, l2Prior, Objective, totalVariation, weighted } from '../objectives';
import { cosineWithWarmup } from '../optim';
import { pixels } from '../sources/pixels';
import { naturalSource, NaturalSourceOptions } from '../sources/natural';
import type { ImageSource } from '../sources/types';
import { deriveSeed } from '../util/random';
import type { SynthesizedBatch } from './batch';
import { BatchPlan, resolveBatchIndices, runBatches, TrainerOptions } from './trainer';

/** Weights of the image-prior objective shared by DI and NI. */
export interface InversionWeights {
  /** Cross-entropy toward the targets. */
  readonly ce: number;
  /** BatchNorm statistics (R_BN). */
  readonly bn: number;
  /** Total variation, l2 form. */
  readonly tv: number;
  /** l2 prior (whole-batch norm). */
  readonly l2: number;
}

/** ADI's competition against a student, trained between batches on the growing pool. */
export interface CompetitionOptions {
  /** The student; it runs in inference mode during synthesis. */
  readonly student: tfl.LayersModel;
  /** Weight of the competition term. Default 0.2 (the paper). */
  readonly weight?: number;
  /** Temperature of the Jensen-Shannon term. Default 3. */
  readonly temperature?: number;
  /**
   * Trains the student on the pool of every image synthesized so far, after each batch
   * (knowledge distillation; see `distill`). Required: ADI's student must learn between rounds.
   */
  readonly trainStudent: (pool: readonly SynthesizedBatch[]) => Promise<void>;
}

interface CommonMethodOptions extends TrainerOptions {
  readonly weights?: Partial<InversionWeights>;
  /** Augmentation of the images the teacher sees. Default: the method's. */
  readonly augmentation?: Augmentation;
  /** Your own terms, added to the method's: `[[0.1, diversity]]`. */
  readonly extraTerms?: ReadonlyArray<readonly [number, Objective]>;
  /** Adds ADI's competition term (DI -> ADI, NI -> NI + ADI). */
  readonly competition?: CompetitionOptions;
}

/** The competition term's settings, without the student (which a per-batch synthesizer gets per call). */
export interface CompetitionTermOptions {
  /** Weight of the competition term. Default 0.2 (the paper). */
  readonly weight?: number;
  /** Temperature of the Jensen-Shannon term. Default 3. */
  readonly temperature?: number;
}

function objectiveFor(
  weights: InversionWeights,
  options: Pick<CommonMethodOptions, 'extraTerms'>,
  competitionTerm: CompetitionTermOptions | undefined,
  firstBnMultiplier = 1,
): Objective {
  const terms: Array<readonly [number, Objective]> = [
    [weights.ce, crossEntropy()],
    [weights.bn, bnStatistics({ firstLayerMultiplier: firstBnMultiplier })],
    [weights.tv, totalVariation('l2', { name: 'tv' })],
    [weights.l2, l2Prior('batch')],
    ...(options.extraTerms ?? []),
  ];
  if (competitionTerm != null) {
    terms.push([competitionTerm.weight ?? 0.2, competition({ temperature: competitionTerm.temperature ?? 3 })]);
  }
  return weighted(terms);
}

function checkSequential(method: string, options: TrainerOptions): void {
  const indices = resolveBatchIndices(options);
  if (indices.some((index, i) => index !== i)) {
    throw new Error(
      `${method} with a competition term trains its student batch after batch, so it runs batches 0..n-1 in order; ` +
        'it cannot skip, resume or shard batches. Run it in one process, or drop the competition term.',
    );
  }
}

/** Wraps a trainer so the student learns from the pool after every batch (ADI's data-free KD loop). */
async function* withStudentRounds(
  batches: AsyncGenerator<SynthesizedBatch>,
  competitionOptions: CompetitionOptions | undefined,
): AsyncGenerator<SynthesizedBatch> {
  const pool: SynthesizedBatch[] = [];
  for await (const batch of batches) {
    yield batch;
    if (competitionOptions != null) {
      pool.push(batch);
      await competitionOptions.trainStudent(pool);
    }
  }
}

/** DeepInversion options; defaults are the paper's CIFAR setting unless `setting: 'imagenet'`. */
export interface DeepInversionOptions extends CommonMethodOptions {
  /**
   * `cifar` (default): Adam (0.9, 0.999), constant lr 0.05, 2000 steps, weights ce 1 / bn 10 /
   * tv 2.5e-5 / l2 0, jitter 2. `imagenet`: Adam (0.5, 0.9), cosine lr 0.25 with 100 warm-up
   * steps, pixels clipped to the valid range after every step, first BatchNorm layer x10,
   * weights ce 1 / bn 0.01 / tv 1e-4 / l2 1e-5, jitter 30 + flip. (DI's multi-resolution warm
   * start is not part of this preset.)
   */
  readonly setting?: 'cifar' | 'imagenet';
  /** Learning rate of the pixels. */
  readonly learningRate?: number;
  /** Multiplier of the first BatchNorm layer's loss. Default 1 (cifar) / 10 (imagenet). */
  readonly firstBnMultiplier?: number;
  /**
   * Clip the pixels to the valid [0, 1] range (in the teacher's normalization) after every step,
   * so the images the teacher judged are exactly the PNGs written. Default false (cifar) / true
   * (imagenet).
   */
  readonly clipPixels?: boolean;
}

/** DeepInversion's published presets (Yin et al., CVPR 2020): the defaults of {@link deepInversion}. */
export const DEEP_INVERSION_PRESETS = {
  cifar: { weights: { ce: 1, bn: 10, tv: 2.5e-5, l2: 0 }, learningRate: 0.05, steps: 2000, batchSize: 256 },
  imagenet: { weights: { ce: 1, bn: 0.01, tv: 1e-4, l2: 1e-5 }, learningRate: 0.25, steps: 2000, batchSize: 256 },
} as const satisfies Record<'cifar' | 'imagenet', { weights: InversionWeights; learningRate: number; steps: number; batchSize: number }>;

/**
 * NaturalInversion's published CIFAR presets (Kim et al., AAAI 2022): the defaults of
 * {@link naturalInversion}, for 10-class teachers and for 100 classes or more.
 */
export const NATURAL_INVERSION_PRESETS = {
  cifar10: { weights: { ce: 1, bn: 10, tv: 6e-3, l2: 1.5e-5 }, steps: 2000, batchSize: 256 },
  cifar100: { weights: { ce: 1, bn: 3, tv: 6e-3, l2: 1.5e-5 }, steps: 4000, batchSize: 256 },
} as const satisfies Record<'cifar10' | 'cifar100', { weights: InversionWeights; steps: number; batchSize: number }>;

/** Clamps pixel variables to the range that maps to [0, 1] under the teacher's normalization. */
function clipToValidRange(teacher: Teacher): (source: ImageSource) => void {
  const { mean, std } = teacher.normalization;
  return (source) =>
    tf.tidy(() => {
      const low = tf.tensor1d(mean.map((m, c) => -m / std[c]));
      const high = tf.tensor1d(mean.map((m, c) => (1 - m) / std[c]));
      for (const variable of source.groups.flatMap((g) => g.variables)) {
        variable.assign(tf.minimum(tf.maximum(variable, low), high));
      }
    });
}

/**
 * DeepInversion (Yin et al., CVPR 2020): optimizes the pixels so the teacher's BatchNorm
 * statistics match its running statistics, with cross-entropy toward the targets and image
 * priors. With `competition`, Adaptive DeepInversion. Yields each finished batch.
 */
export function deepInversion(teacher: Teacher, options: DeepInversionOptions = {}): AsyncGenerator<SynthesizedBatch> {
  if (options.competition != null) checkSequential('adaptiveDeepInversion', options);
  const { method, steps, batchSize, plan } = deepInversionPlan(teacher, options, options.competition);
  const batches = runBatches(teacher, method, { ...options, steps, batchSize }, (index, labels) =>
    plan(index, labels, options.competition?.student),
  );
  return withStudentRounds(batches, options.competition);
}

/**
 * What a method contributes to every batch, resolved once: its name, steps, batch size and the
 * per-batch plan (source + loop settings), given the student the batch competes against.
 */
export interface MethodPlan {
  readonly method: string;
  readonly steps: number;
  readonly batchSize: number;
  readonly plan: (index: number, labels: Int32Array, student: tfl.LayersModel | undefined) => BatchPlan;
}

/** DeepInversion's per-batch plan; with `competitionTerm`, ADI's objective. */
export function deepInversionPlan(
  teacher: Teacher,
  options: Omit<DeepInversionOptions, 'competition'>,
  competitionTerm: CompetitionTermOptions | undefined,
): MethodPlan {
  const imagenet = options.setting === 'imagenet';
  if (options.setting != null && options.setting !== 'cifar' && !imagenet) {
    throw new Error(`deepInversion: setting must be 'cifar' or 'imagenet', got '${options.setting}'.`);
  }
  const preset = DEEP_INVERSION_PRESETS[imagenet ? 'imagenet' : 'cifar'];
  const weights = { ...preset.weights, ...options.weights };
  const objective = objectiveFor(weights, options, competitionTerm, options.firstBnMultiplier ?? (imagenet ? 10 : 1));
  const augmentation = options.augmentation ?? (imagenet ? compose(jitter({ maxShift: 30 }), flip()) : jitter({ maxShift: 2 }));
  const learningRate = options.learningRate ?? preset.learningRate;
  const batchSize = options.batchSize ?? preset.batchSize;
  const seed = options.seed ?? 0;
  const method = competitionTerm == null ? 'deepInversion' : 'adaptiveDeepInversion';
  const plan = (index: number, _labels: Int32Array, student: tfl.LayersModel | undefined): BatchPlan => ({
    source: pixels({ batchSize, imageShape: [...teacher.inputShape], seed: deriveSeed(seed, 'source', index), learningRate }),
    synthesis: {
      objective,
      augmentation,
      student,
      adam: imagenet ? { beta1: 0.5, beta2: 0.9 } : undefined,
      schedule: imagenet ? (rate) => cosineWithWarmup(rate, { warmupSteps: 100 }) : undefined,
      afterStep: (options.clipPixels ?? imagenet) ? clipToValidRange(teacher) : undefined,
    },
  });
  return { method, steps: options.steps ?? preset.steps, batchSize, plan };
}

/** Adaptive DeepInversion: DeepInversion plus the competition term against a learning student. */
export function adaptiveDeepInversion(
  teacher: Teacher,
  options: DeepInversionOptions & { readonly competition: CompetitionOptions },
): AsyncGenerator<SynthesizedBatch> {
  if (options.competition == null) throw new Error('adaptiveDeepInversion: options.competition (student, trainStudent) is required.');
  return deepInversion(teacher, options);
}

/** NaturalInversion options; defaults are the paper's CIFAR settings. */
export interface NaturalInversionOptions extends CommonMethodOptions {
  /** Per-group learning rates. Default generator 1e-3, ftp 5e-4, alpha 5e-2. */
  readonly learningRates?: NaturalSourceOptions['learningRates'];
  /** Generator overrides (latent size, base width, ...). */
  readonly generator?: NaturalSourceOptions['generator'];
  /** Teacher layers feeding the FTP, deepest first. Default: the teacher's featureTaps. */
  readonly featureTaps?: readonly string[];
}

/**
 * NaturalInversion (Kim et al., AAAI 2022): per batch, a fresh conditional generator refined by a
 * Feature Transfer Pyramid fed with the teacher's own features and scaled by Adaptive Channel
 * Scaling. Defaults: 2000 steps (4000 for 100+ classes), weights ce 1 / bn 10 (3 for 100+
 * classes) / tv 6e-3 / l2 1.5e-5, jitter 2 + flip applied twice per step. With `competition`,
 * NI + ADI.
 */
export function naturalInversion(teacher: Teacher, options: NaturalInversionOptions = {}): AsyncGenerator<SynthesizedBatch> {
  if (options.competition != null) checkSequential('naturalInversion with competition', options);
  const { method, steps, batchSize, plan } = naturalInversionPlan(teacher, options, options.competition);
  const batches = runBatches(teacher, method, { ...options, steps, batchSize }, (index, labels) =>
    plan(index, labels, options.competition?.student),
  );
  return withStudentRounds(batches, options.competition);
}

/** NaturalInversion's per-batch plan; with `competitionTerm`, NI + ADI's objective. */
export function naturalInversionPlan(
  teacher: Teacher,
  options: Omit<NaturalInversionOptions, 'competition'>,
  competitionTerm: CompetitionTermOptions | undefined,
): MethodPlan {
  const preset = NATURAL_INVERSION_PRESETS[teacher.numClasses >= 100 ? 'cifar100' : 'cifar10'];
  const weights = { ...preset.weights, ...options.weights };
  const objective = objectiveFor(weights, options, competitionTerm);
  const augmentation = options.augmentation ?? compose(jitter({ maxShift: 2 }), flip());
  const batchSize = options.batchSize ?? preset.batchSize;
  const seed = options.seed ?? 0;
  const method = competitionTerm == null ? 'naturalInversion' : 'naturalInversion+competition';
  const plan = (index: number, labels: Int32Array, student: tfl.LayersModel | undefined): BatchPlan => ({
    source: naturalSource({
      teacher,
      batchSize,
      labels,
      seed: deriveSeed(seed, 'source', index),
      generator: options.generator,
      featureTaps: options.featureTaps,
      learningRates: options.learningRates,
    }),
    synthesis: { objective, augmentation, student },
  });
  return { method, steps: options.steps ?? preset.steps, batchSize, plan };
}
