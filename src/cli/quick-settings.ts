/**
 * The quick settings of `natinv synthesize`: what a run without --steps does on each backend, so
 * a first run ends in about a minute with images the teacher classifies as their targets. Plain
 * data, recorded in the run's configuration.
 */
import type { BackendName } from '../runtime/backend';
import { DEEP_INVERSION_PRESETS, InversionWeights } from '../synthesis/methods';

/** The methods `natinv synthesize` offers, by their short names. */
export const METHODS = ['ni', 'di', 'adi', 'fast'] as const;
export type MethodName = (typeof METHODS)[number];

/** The papers' CIFAR setting, quoted next to a quick one. */
export const PAPER_SETTING = {
  batchSize: DEEP_INVERSION_PRESETS.cifar.batchSize,
  steps: DEEP_INVERSION_PRESETS.cifar.steps,
  learningRate: DEEP_INVERSION_PRESETS.cifar.learningRate,
  bnWeight: DEEP_INVERSION_PRESETS.cifar.weights.bn,
} as const;

/**
 * Method options that go with a short schedule. At a few dozen steps the BatchNorm term at the
 * papers' weight 10 outweighs the class term, and the batch ends before the teacher recognizes
 * its targets; weight 1 (and, for DeepInversion, a learning rate of 0.1) gets there first.
 * Clipping DeepInversion's pixels to [0, 1] every step makes the PNGs exactly what the teacher
 * judged.
 */
export interface QuickTuning {
  readonly learningRate?: number;
  readonly weights?: Partial<InversionWeights>;
  readonly clipPixels?: boolean;
}

export interface QuickSetting {
  readonly batchSize: number;
  readonly steps: number;
  /** How long one batch from the bundled teacher took on a 2-core machine. */
  readonly about: string;
  readonly tuning?: QuickTuning;
}

const DI_TUNING: QuickTuning = { learningRate: 0.1, weights: { bn: 1 }, clipPixels: true };
const NI_TUNING: QuickTuning = { weights: { bn: 1 } };

/**
 * Quick settings per backend and method. The times are one batch from the bundled ResNet-20 on 2
 * AMD EPYC cores, process start included (docs/performance.md#quick-settings, with the teacher's
 * agreement on each).
 */
export const QUICK_SETTINGS: Readonly<Record<BackendName, Readonly<Record<MethodName, QuickSetting>>>> = {
  tensorflow: {
    ni: { batchSize: 16, steps: 100, about: 'about a minute and a half', tuning: NI_TUNING },
    di: { batchSize: 32, steps: 50, about: 'about fifteen seconds', tuning: DI_TUNING },
    adi: { batchSize: 32, steps: 50, about: 'about fifteen seconds, plus the student rounds', tuning: DI_TUNING },
    fast: { batchSize: 64, steps: 5, about: 'seconds' },
  },
  wasm: {
    ni: { batchSize: 8, steps: 40, about: 'over a minute', tuning: NI_TUNING },
    di: { batchSize: 10, steps: 50, about: 'about half a minute', tuning: DI_TUNING },
    adi: { batchSize: 10, steps: 50, about: 'wasm cannot train the student', tuning: DI_TUNING },
    fast: { batchSize: 16, steps: 5, about: 'seconds' },
  },
  cpu: {
    ni: { batchSize: 4, steps: 8, about: 'about two minutes', tuning: NI_TUNING },
    di: { batchSize: 4, steps: 30, about: 'about two minutes', tuning: DI_TUNING },
    adi: { batchSize: 4, steps: 30, about: 'a few minutes: training the student is slow on cpu', tuning: DI_TUNING },
    fast: { batchSize: 4, steps: 5, about: 'seconds' },
  },
};

/** The tuning in words, for the run's announcement: "learning rate 0.1, BN weight 1, pixels clipped". */
export function describeTuning(tuning: QuickTuning): string {
  const parts: string[] = [];
  if (tuning.learningRate !== undefined) parts.push(`learning rate ${tuning.learningRate}`);
  if (tuning.weights?.bn !== undefined) parts.push(`BN weight ${tuning.weights.bn}`);
  if (tuning.clipPixels === true) parts.push('pixels clipped to [0, 1] every step');
  return parts.join(', ');
}
