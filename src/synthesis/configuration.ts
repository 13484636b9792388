/**
 * A synthesis run as plain data: which method, at which settings, from which seed. JSON in and
 * out, checked in one place, and turned into the method's batches by {@link synthesizeFromConfiguration}.
 * Functions (augmentations, extra terms, a student) stay out of it: they are hooks of the method
 * calls, and a run that uses them is not reproducible from its configuration alone.
 */
import type { Teacher } from '../models/teacher';
import type { SynthesizedBatch } from './batch';
import { deepInversion, InversionWeights, naturalInversion } from './methods';
import type { TrainerOptions } from './trainer';

interface CommonConfiguration {
  /** Images per batch. */
  readonly batchSize: number;
  /** Optimization steps per batch. */
  readonly steps: number;
  /** Run seed: batch i's randomness depends only on (seed, i). */
  readonly seed: number;
  /** Term weights over the method's preset (ce, bn, tv, l2). */
  readonly weights?: Partial<InversionWeights>;
}

/** DeepInversion's settings, as {@link deepInversion} takes them. */
export interface DeepInversionConfiguration extends CommonConfiguration {
  readonly method: 'deepInversion';
  readonly setting?: 'cifar' | 'imagenet';
  readonly learningRate?: number;
  readonly firstBnMultiplier?: number;
  readonly clipPixels?: boolean;
}

/** NaturalInversion's settings, as {@link naturalInversion} takes them. */
export interface NaturalInversionConfiguration extends CommonConfiguration {
  readonly method: 'naturalInversion';
  readonly learningRates?: { readonly generator?: number; readonly ftp?: number; readonly alpha?: number };
  /** Generator size: latent length (default 1024) and base width (default 128). */
  readonly generator?: { readonly latentSize?: number; readonly baseWidth?: number };
  /** Teacher layers feeding the pyramid, deepest first. Default: the teacher's own taps. */
  readonly featureTaps?: readonly string[];
}

export type SynthesisConfiguration = DeepInversionConfiguration | NaturalInversionConfiguration;

const WEIGHT_NAMES = ['ce', 'bn', 'tv', 'l2'] as const;
const FIELDS: Record<SynthesisConfiguration['method'], readonly string[]> = {
  deepInversion: ['method', 'batchSize', 'steps', 'seed', 'weights', 'setting', 'learningRate', 'firstBnMultiplier', 'clipPixels'],
  naturalInversion: ['method', 'batchSize', 'steps', 'seed', 'weights', 'learningRates', 'generator', 'featureTaps'],
};

/** A JSON object's field, checked: `where` names it in the error (`configuration.steps`). */
function positive(value: unknown, where: string, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`${where} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function finiteNumbers(value: unknown, where: string, names: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where} must be an object with numbers for ${names.join(', ')}, got ${JSON.stringify(value)}.`);
  }
  for (const [name, number] of Object.entries(value)) {
    if (!names.includes(name)) throw new Error(`${where}.${name} is not a setting; the settings are ${names.join(', ')}.`);
    if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
      throw new Error(`${where}.${name} must be a number of at least 0, got ${JSON.stringify(number)}.`);
    }
  }
}

/**
 * Checks a parsed JSON value as a {@link SynthesisConfiguration} and returns it typed; every
 * error names the field, what it must be and what it was. Unknown fields are refused, so a typo
 * cannot silently fall back to a default.
 */
export function checkSynthesisConfiguration(value: unknown, where = 'configuration'): SynthesisConfiguration {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where} must be a JSON object, got ${JSON.stringify(value)}.`);
  }
  const record = value as Record<string, unknown>;
  const method = record.method;
  if (method !== 'deepInversion' && method !== 'naturalInversion') {
    throw new Error(`${where}.method must be 'deepInversion' or 'naturalInversion', got ${JSON.stringify(method)}.`);
  }
  for (const field of Object.keys(record)) {
    if (!FIELDS[method].includes(field)) {
      throw new Error(`${where}.${field} is not a setting of ${method}; its settings are ${FIELDS[method].join(', ')}.`);
    }
  }
  positive(record.batchSize, `${where}.batchSize`, true);
  positive(record.steps, `${where}.steps`, true);
  if (typeof record.seed !== 'number' || !Number.isInteger(record.seed) || record.seed < 0) {
    throw new Error(`${where}.seed must be an integer of at least 0, got ${JSON.stringify(record.seed)}.`);
  }
  if (record.weights !== undefined) finiteNumbers(record.weights, `${where}.weights`, WEIGHT_NAMES);
  if (method === 'deepInversion') {
    if (record.setting !== undefined && record.setting !== 'cifar' && record.setting !== 'imagenet') {
      throw new Error(`${where}.setting must be 'cifar' or 'imagenet', got ${JSON.stringify(record.setting)}.`);
    }
    if (record.learningRate !== undefined) positive(record.learningRate, `${where}.learningRate`, false);
    if (record.firstBnMultiplier !== undefined) positive(record.firstBnMultiplier, `${where}.firstBnMultiplier`, false);
    if (record.clipPixels !== undefined && typeof record.clipPixels !== 'boolean') {
      throw new Error(`${where}.clipPixels must be true or false, got ${JSON.stringify(record.clipPixels)}.`);
    }
  } else {
    if (record.learningRates !== undefined) finiteNumbers(record.learningRates, `${where}.learningRates`, ['generator', 'ftp', 'alpha']);
    if (record.generator !== undefined) {
      finiteNumbers(record.generator, `${where}.generator`, ['latentSize', 'baseWidth']);
      for (const [name, size] of Object.entries(record.generator as Record<string, unknown>))
        positive(size, `${where}.generator.${name}`, true);
    }
    const taps = record.featureTaps;
    if (taps !== undefined && (!Array.isArray(taps) || taps.length === 0 || taps.some((t) => typeof t !== 'string'))) {
      throw new Error(`${where}.featureTaps must be a non-empty list of layer names, got ${JSON.stringify(taps)}.`);
    }
  }
  return record as unknown as SynthesisConfiguration;
}

/** What a run adds to its configuration: which batches, and the hooks that do not change the images. */
export type ConfigurationRunOptions = Pick<TrainerOptions, 'batches' | 'batchIndices' | 'signal' | 'onStep'>;

/**
 * The batches a configuration describes: {@link deepInversion} or {@link naturalInversion} with
 * exactly its settings, so the same configuration, teacher and backend give identical batches.
 */
export function synthesizeFromConfiguration(
  teacher: Teacher,
  configuration: SynthesisConfiguration,
  run: ConfigurationRunOptions = {},
): AsyncGenerator<SynthesizedBatch> {
  const checked = checkSynthesisConfiguration(configuration);
  const { method: _method, ...settings } = checked;
  return checked.method === 'deepInversion'
    ? deepInversion(teacher, { ...(settings as Omit<DeepInversionConfiguration, 'method'>), ...run })
    : naturalInversion(teacher, { ...(settings as Omit<NaturalInversionConfiguration, 'method'>), ...run });
}
