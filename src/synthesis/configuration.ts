/**
 * A synthesis run as plain data: which method, at which settings, from which seed. JSON in and
 * out, checked in one place, and turned into the method's batches by {@link synthesizeFromConfiguration}.
 * Functions (augmentations, extra terms, a student) stay out of it: they are hooks of the method
 * calls, and a run that uses them is not reproducible from its configuration alone. Running one
 * is configured.ts's job.
 */
import { ZOO_ARCHITECTURES } from '../models/architectures';
import type { InversionWeights } from './methods';

interface CommonConfiguration {
  /** Images per batch. */
  readonly batchSize: number;
  /** Optimization steps per batch (for the fast method: the inner steps that adapt the shared generator). */
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

/**
 * Adaptive DeepInversion's settings: DeepInversion's plus the competition term and the student
 * it competes with, a fresh zoo network trained between batches. Running one needs that student
 * as a hook (`competition` in {@link ConfigurationRunOptions}); `adiStudent` in the applications
 * builds it from this configuration.
 */
export interface AdaptiveDeepInversionConfiguration extends Omit<DeepInversionConfiguration, 'method'> {
  readonly method: 'adaptiveDeepInversion';
  /** Weight (default 0.2) and temperature (default 3) of the competition term. */
  readonly competition?: { readonly weight?: number; readonly temperature?: number };
  /** The student: a zoo architecture (e.g. `resnet20`), initialized from the run seed. */
  readonly student: { readonly arch: string };
}

/**
 * The fast method's settings, as {@link fastInversion} takes them (`steps` is its `innerSteps`).
 * Its batches depend on the ones before it: batch i is batch i of the run only when made after
 * batches 0..i-1 (or from their saved state).
 */
export interface FastInversionConfiguration extends CommonConfiguration {
  readonly method: 'fastInversion';
  readonly learningRates?: { readonly generator?: number; readonly latent?: number; readonly ftp?: number; readonly alpha?: number };
  readonly metaLearningRate?: number;
  readonly metaOptimizer?: 'adam' | 'sgd';
  /** Generator size: latent length (default 256) and base width (default 128). */
  readonly generator?: { readonly latentSize?: number; readonly baseWidth?: number };
  readonly pyramid?: boolean;
  readonly featureTaps?: readonly string[];
  readonly bnMomentum?: number;
  /** The adversarial term, used only when a student is passed (the data-free distillation loop). */
  readonly adversarial?: { readonly weight?: number; readonly temperature?: number; readonly warmupBatches?: number };
}

export type SynthesisConfiguration =
  DeepInversionConfiguration | AdaptiveDeepInversionConfiguration | NaturalInversionConfiguration | FastInversionConfiguration;

/** The methods a configuration can name. */
export const CONFIGURATION_METHODS: readonly SynthesisConfiguration['method'][] = [
  'deepInversion',
  'adaptiveDeepInversion',
  'naturalInversion',
  'fastInversion',
];

const WEIGHT_NAMES = ['ce', 'bn', 'tv', 'l2'] as const;
const COMMON_FIELDS = ['method', 'batchSize', 'steps', 'seed', 'weights'];
const DEEP_INVERSION_FIELDS = [...COMMON_FIELDS, 'setting', 'learningRate', 'firstBnMultiplier', 'clipPixels'];
const FIELDS: Record<SynthesisConfiguration['method'], readonly string[]> = {
  deepInversion: DEEP_INVERSION_FIELDS,
  adaptiveDeepInversion: [...DEEP_INVERSION_FIELDS, 'competition', 'student'],
  naturalInversion: [...COMMON_FIELDS, 'learningRates', 'generator', 'featureTaps'],
  fastInversion: [
    ...COMMON_FIELDS,
    'learningRates',
    'metaLearningRate',
    'metaOptimizer',
    'generator',
    'pyramid',
    'featureTaps',
    'bnMomentum',
    'adversarial',
  ],
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

function boolean(value: unknown, where: string): void {
  if (value !== undefined && typeof value !== 'boolean') throw new Error(`${where} must be true or false, got ${JSON.stringify(value)}.`);
}

function layerNames(value: unknown, where: string): void {
  if (value !== undefined && (!Array.isArray(value) || value.length === 0 || value.some((t) => typeof t !== 'string'))) {
    throw new Error(`${where} must be a non-empty list of layer names, got ${JSON.stringify(value)}.`);
  }
}

function generatorSize(value: unknown, where: string): void {
  if (value === undefined) return;
  finiteNumbers(value, where, ['latentSize', 'baseWidth']);
  for (const [name, size] of Object.entries(value as Record<string, unknown>)) positive(size, `${where}.${name}`, true);
}

function checkDeepInversionFields(record: Record<string, unknown>, where: string): void {
  if (record.setting !== undefined && record.setting !== 'cifar' && record.setting !== 'imagenet') {
    throw new Error(`${where}.setting must be 'cifar' or 'imagenet', got ${JSON.stringify(record.setting)}.`);
  }
  if (record.learningRate !== undefined) positive(record.learningRate, `${where}.learningRate`, false);
  if (record.firstBnMultiplier !== undefined) positive(record.firstBnMultiplier, `${where}.firstBnMultiplier`, false);
  boolean(record.clipPixels, `${where}.clipPixels`);
}

function checkAdaptiveFields(record: Record<string, unknown>, where: string): void {
  checkDeepInversionFields(record, where);
  if (record.competition !== undefined) finiteNumbers(record.competition, `${where}.competition`, ['weight', 'temperature']);
  const student = record.student as Record<string, unknown> | undefined;
  if (typeof student !== 'object' || student === null || typeof student.arch !== 'string' || Object.keys(student).length !== 1) {
    throw new Error(
      `${where}.student must be { "arch": "<zoo architecture>" } (the network ADI trains between batches, e.g. resnet20), ` +
        `got ${JSON.stringify(student)}.`,
    );
  }
  if (!(ZOO_ARCHITECTURES as readonly string[]).includes(student.arch)) {
    throw new Error(`${where}.student.arch must be one of ${ZOO_ARCHITECTURES.join(', ')}, got ${JSON.stringify(student.arch)}.`);
  }
}

function checkNaturalFields(record: Record<string, unknown>, where: string): void {
  if (record.learningRates !== undefined) finiteNumbers(record.learningRates, `${where}.learningRates`, ['generator', 'ftp', 'alpha']);
  generatorSize(record.generator, `${where}.generator`);
  layerNames(record.featureTaps, `${where}.featureTaps`);
}

function checkFastFields(record: Record<string, unknown>, where: string): void {
  if (record.learningRates !== undefined) {
    finiteNumbers(record.learningRates, `${where}.learningRates`, ['generator', 'latent', 'ftp', 'alpha']);
  }
  if (record.metaLearningRate !== undefined) positive(record.metaLearningRate, `${where}.metaLearningRate`, false);
  if (record.metaOptimizer !== undefined && record.metaOptimizer !== 'adam' && record.metaOptimizer !== 'sgd') {
    throw new Error(`${where}.metaOptimizer must be 'adam' or 'sgd', got ${JSON.stringify(record.metaOptimizer)}.`);
  }
  generatorSize(record.generator, `${where}.generator`);
  boolean(record.pyramid, `${where}.pyramid`);
  layerNames(record.featureTaps, `${where}.featureTaps`);
  const momentum = record.bnMomentum;
  if (momentum !== undefined && !(typeof momentum === 'number' && momentum >= 0 && momentum < 1)) {
    throw new Error(`${where}.bnMomentum must be a number in [0, 1), got ${JSON.stringify(momentum)}.`);
  }
  if (record.adversarial !== undefined) {
    finiteNumbers(record.adversarial, `${where}.adversarial`, ['weight', 'temperature', 'warmupBatches']);
  }
}

const METHOD_FIELDS: Record<SynthesisConfiguration['method'], (record: Record<string, unknown>, where: string) => void> = {
  deepInversion: checkDeepInversionFields,
  adaptiveDeepInversion: checkAdaptiveFields,
  naturalInversion: checkNaturalFields,
  fastInversion: checkFastFields,
};

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
  const method = record.method as SynthesisConfiguration['method'];
  if (!CONFIGURATION_METHODS.includes(method)) {
    throw new Error(
      `${where}.method must be one of ${CONFIGURATION_METHODS.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(method)}.`,
    );
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
  METHOD_FIELDS[method](record, where);
  return record as unknown as SynthesisConfiguration;
}
