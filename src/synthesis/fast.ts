import * as tf from '@tensorflow/tfjs-core';
import { Augmentation, compose, flip, jitter } from '../augment';
import type { Teacher } from '../models/teacher';
import { adversarial, BatchNormHistory, bnStatistics, crossEntropy, l2Prior, Objective, totalVariation, weighted } from '../objectives';
import { adam, AdamOptimizer, Optimizer, sgd } from '../optim';
import {
  conditionalGenerator,
  ConditionalGenerator,
  ResolvedGeneratorOptions,
  resolveGeneratorOptions,
} from '../sources/conditional-generator';
import { featureSpecsFromModel } from '../sources/feature-specs';
import { featureTransferPyramid, FeatureTransferPyramid } from '../sources/feature-transfer-pyramid';
import { GENERATOR_SOURCE_LEARNING_RATES, generatorSource, GeneratorSourceLearningRates } from '../sources/generator-source';
import { tapNetwork } from '../taps';
import { channelMean } from '../taps/layer-ops';
import { deriveSeed } from '../util/random';
import type { SynthesizedBatch } from './batch';
import type { BatchSynthesizer, SynthesizeBatchOptions, SynthesizerState } from './synthesizer';
import { synthesize } from './synthesize';
import { batchLabels, finishedBatch, resolveBatchIndices, TrainerOptions } from './trainer';

/** Weights of the fast method's objective. */
export interface FastInversionWeights {
  /** Cross-entropy toward the targets. Default 0.5 (Fast-Datafree). */
  readonly ce: number;
  /** BatchNorm statistics (R_BN). Default 10. */
  readonly bn: number;
  /** Total variation, l2 form. Default 0 (Fast-Datafree uses none). */
  readonly tv: number;
  /** l2 prior (whole-batch norm). Default 0. */
  readonly l2: number;
}

/** Fast-Datafree's adversarial term, used when a student is passed to synthesizeBatch. */
export interface FastAdversarialOptions {
  /** Weight of the term. Default 1.33 (the paper's CIFAR setting). 0 turns it off. */
  readonly weight?: number;
  /** Softmax temperature of the KL. Default 20. */
  readonly temperature?: number;
  /** Batches with an index below this are made without the term (the paper's warm-up). Default 0. */
  readonly warmupBatches?: number;
}

/** Options of {@link fastSynthesizer} and {@link fastInversion}. */
export interface FastInversionOptions extends Omit<TrainerOptions, 'steps' | 'onStep' | 'signal'> {
  /** Adam steps that adapt the copy of the shared generator for each batch. Default 5. */
  readonly innerSteps?: number;
  /** Learning rates of the inner Adam; default generator 5e-3, latent 1.5e-2, ftp 5e-4, alpha 5e-2. */
  readonly learningRates?: Partial<GeneratorSourceLearningRates>;
  /**
   * Step size of the meta-update of the shared weights. Default: with `adam`, the generator
   * learning rate x innerSteps (the paper's); with `sgd`, 1 (the shared weights become the adapted ones).
   */
  readonly metaLearningRate?: number;
  /**
   * `adam` (default; betas 0.5, 0.999, as the paper) or `sgd` (plain Reptile:
   * shared += metaLearningRate x (adapted - shared)). Either way the meta-gradient is
   * shared - adapted, summed over the inner steps' updates.
   */
  readonly metaOptimizer?: 'adam' | 'sgd';
  readonly weights?: Partial<FastInversionWeights>;
  /** Generator size. Default latentSize 256 (Fast-Datafree's), baseWidth 128. */
  readonly generator?: { readonly latentSize?: number; readonly baseWidth?: number };
  /**
   * Adds NaturalInversion's Feature Transfer Pyramid (shared and meta-learned like the generator)
   * and a fresh Adaptive Channel Scaling per batch on top of the generator: "fast NI". Default false.
   */
  readonly pyramid?: boolean;
  /** Teacher layers feeding the FTP, deepest first (with `pyramid`). Default: the teacher's featureTaps. */
  readonly featureTaps?: readonly string[];
  /**
   * Weight of earlier batches' BatchNorm statistics mixed into each batch's before R_BN compares
   * them with the teacher's (Fast-Datafree's momentum). Default 0.9; 0 turns the mix off.
   */
  readonly bnMomentum?: number;
  /** The adversarial term against a student (only when synthesizeBatch gets one). */
  readonly adversarial?: FastAdversarialOptions;
  /** Augmentation of the images the teacher sees. Default jitter 2 + flip. */
  readonly augmentation?: Augmentation;
  /** Your own terms, added to the method's. */
  readonly extraTerms?: ReadonlyArray<readonly [number, Objective]>;
}

/** Every setting of a fast run with the defaults filled in, as plain data (for manifests). */
export interface FastInversionSettings {
  readonly batchSize: number;
  readonly seed: number;
  readonly innerSteps: number;
  readonly learningRates: GeneratorSourceLearningRates;
  readonly metaOptimizer: 'adam' | 'sgd';
  readonly metaLearningRate: number;
  readonly innerAdam: { readonly beta1: number; readonly beta2: number };
  readonly weights: FastInversionWeights;
  readonly generator: ResolvedGeneratorOptions;
  readonly pyramid: boolean;
  readonly featureTaps: readonly string[];
  readonly bnMomentum: number;
  readonly adversarial: Required<FastAdversarialOptions>;
}

/** A {@link BatchSynthesizer} for the fast method, with its resolved settings. */
export interface FastSynthesizer extends BatchSynthesizer {
  readonly settings: FastInversionSettings;
  /** The shared generator (the meta-learned initialization); read-only for callers. */
  readonly generator: ConditionalGenerator;
  readonly ftp?: FeatureTransferPyramid;
}

const INNER_ADAM = { beta1: 0.5, beta2: 0.999 } as const;
const DEFAULT_WEIGHTS: FastInversionWeights = { ce: 0.5, bn: 10, tv: 0, l2: 0 };

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`fastInversion: ${what} must be a positive integer, got ${value}.`);
  return value;
}

/** Fills every default and checks every value; throws naming the bad option. */
export function resolveFastSettings(teacher: Teacher, options: FastInversionOptions = {}): FastInversionSettings {
  const batchSize = positiveInteger(options.batchSize ?? 256, 'batchSize');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`fastInversion: seed must be an integer, got ${seed}.`);
  const innerSteps = positiveInteger(options.innerSteps ?? 5, 'innerSteps');
  const learningRates = { ...GENERATOR_SOURCE_LEARNING_RATES, ...options.learningRates };
  const metaOptimizer = options.metaOptimizer ?? 'adam';
  if (metaOptimizer !== 'adam' && metaOptimizer !== 'sgd') {
    throw new Error(`fastInversion: metaOptimizer must be 'adam' or 'sgd', got '${String(metaOptimizer)}'.`);
  }
  const metaLearningRate = options.metaLearningRate ?? (metaOptimizer === 'adam' ? learningRates.generator * innerSteps : 1);
  if (!(Number.isFinite(metaLearningRate) && metaLearningRate > 0)) {
    throw new Error(`fastInversion: metaLearningRate must be a positive number, got ${metaLearningRate}.`);
  }
  const bnMomentum = options.bnMomentum ?? 0.9;
  if (!(bnMomentum >= 0 && bnMomentum < 1)) throw new Error(`fastInversion: bnMomentum must be in [0, 1), got ${bnMomentum}.`);
  const weights = { ...DEFAULT_WEIGHTS, ...options.weights };
  for (const [term, weight] of Object.entries(weights)) {
    if (!(Number.isFinite(weight) && weight >= 0)) throw new Error(`fastInversion: weights.${term} must be a number >= 0, got ${weight}.`);
  }
  const adversarialOptions = { weight: 1.33, temperature: 20, warmupBatches: 0, ...options.adversarial };
  if (!(adversarialOptions.weight >= 0) || !(adversarialOptions.temperature > 0) || !(adversarialOptions.warmupBatches >= 0)) {
    throw new Error(
      `fastInversion: adversarial needs weight >= 0, temperature > 0 and warmupBatches >= 0, got ${JSON.stringify(adversarialOptions)}.`,
    );
  }
  const [size, , channels] = teacher.inputShape;
  const pyramid = options.pyramid ?? false;
  const featureTaps = pyramid ? [...(options.featureTaps ?? teacher.featureTaps)] : [];
  if (pyramid && featureTaps.length === 0) {
    throw new Error(`fastInversion: pyramid needs feature taps, and teacher ${teacher.name} lists none; pass featureTaps (deepest first).`);
  }
  const generator = resolveGeneratorOptions({
    numClasses: teacher.numClasses,
    outputSize: size,
    outputChannels: channels,
    latentSize: options.generator?.latentSize ?? 256,
    baseWidth: options.generator?.baseWidth ?? 128,
    seed: deriveSeed(seed, 'shared-generator'),
  });
  return {
    batchSize,
    seed,
    innerSteps,
    learningRates,
    metaOptimizer,
    metaLearningRate,
    innerAdam: INNER_ADAM,
    weights,
    generator,
    pyramid,
    featureTaps,
    bnMomentum,
    adversarial: adversarialOptions,
  };
}

/** Per-channel batch mean and biased variance at each BatchNorm input of the teacher on `images`. */
function batchNormStatistics(teacher: Teacher, images: tf.Tensor4D): { means: tf.Tensor1D[]; variances: tf.Tensor1D[] } {
  return tf.tidy(() => {
    const taps = tapNetwork(teacher.model).forward(images, { batchNorm: true }).batchNorm;
    const means = taps.map((t) => channelMean(t.input));
    const variances = taps.map((t, i) => channelMean(tf.squaredDifference(t.input, means[i])));
    return { means, variances };
  });
}

/**
 * The fast method as a batch synthesizer (after Fang et al., "Up to 100x Faster Data-free
 * Knowledge Distillation", AAAI 2022, implemented from its description): one generator shared
 * across batches is the meta-learned initialization. For each batch a copy of it, with fresh
 * learnable latents, is adapted for `innerSteps` Adam steps (betas 0.5, 0.999) on
 * ce x CE + bn x R_BN (+ priors, + the adversarial term against a student); the best-loss images
 * are kept; then the shared weights take one first-order meta step with the meta-gradient
 * (shared - adapted) (Reptile), so the next batch starts closer to good images.
 *
 * The state that later batches depend on (shared weights, meta-optimizer moments, the BatchNorm
 * statistics history) is what saveState returns, so batches run strictly in order: batch i
 * depends on every batch made before it by this synthesizer.
 */
export function fastSynthesizer(teacher: Teacher, options: FastInversionOptions = {}): FastSynthesizer {
  const settings = resolveFastSettings(teacher, options);
  const augmentation = options.augmentation ?? compose(jitter({ maxShift: 2 }), flip());
  const generator = conditionalGenerator(settings.generator);
  let ftp: FeatureTransferPyramid | undefined;
  let history: { means: tf.Tensor1D[]; variances: tf.Tensor1D[] } | undefined;
  let metaOptimizer: Optimizer & Partial<Pick<AdamOptimizer, 'saveState' | 'restoreState'>>;
  try {
    if (settings.pyramid) {
      const features = featureSpecsFromModel(teacher.model, settings.featureTaps);
      ftp = featureTransferPyramid({ features, imageChannels: teacher.inputShape[2], seed: deriveSeed(settings.seed, 'shared-ftp') });
    }
    if (settings.metaOptimizer === 'adam') metaOptimizer = adam(sharedVariables(), INNER_ADAM);
    else {
      // Plain SGD without momentum carries no state: only its step goes into the run's state files.
      const plain = sgd(sharedVariables());
      metaOptimizer = { step: plain.step.bind(plain), dispose: plain.dispose.bind(plain) };
    }
  } catch (error) {
    generator.dispose();
    ftp?.dispose();
    throw error;
  }
  let disposed = false;

  function sharedParameters(): Array<[string, tf.Variable]> {
    return [
      ...Object.entries(generator.parameters).map(([name, v]): [string, tf.Variable] => [`generator.${name}`, v]),
      ...Object.entries(ftp?.parameters ?? {}).map(([name, v]): [string, tf.Variable] => [`ftp.${name}`, v]),
    ];
  }
  function sharedVariables(): tf.Variable[] {
    return sharedParameters().map(([, v]) => v);
  }
  function assertLive(): void {
    if (disposed) throw new Error('fastSynthesizer: this synthesizer was disposed; build a new one.');
  }

  const objectiveFor = (withStudent: boolean): Objective => {
    const { weights } = settings;
    const bnHistory: BatchNormHistory | undefined =
      history == null || settings.bnMomentum === 0 ? undefined : { momentum: settings.bnMomentum, ...history };
    const terms: Array<readonly [number, Objective]> = [
      [weights.ce, crossEntropy()],
      [weights.bn, bnStatistics({ history: bnHistory })],
    ];
    if (weights.tv > 0) terms.push([weights.tv, totalVariation('l2', { name: 'tv' })]);
    if (weights.l2 > 0) terms.push([weights.l2, l2Prior('batch')]);
    if (withStudent) terms.push([settings.adversarial.weight, adversarial({ temperature: settings.adversarial.temperature })]);
    terms.push(...(options.extraTerms ?? []));
    return weighted(terms);
  };

  /** First-order meta step: the meta-gradient of each shared weight is (shared - adapted). */
  const metaUpdate = (adapted: Readonly<Record<string, tf.Variable>>): void => {
    const gradients: tf.NamedTensorMap = {};
    for (const [name, variable] of sharedParameters()) gradients[variable.name] = tf.sub(variable, adapted[name]);
    metaOptimizer.step(gradients, settings.metaLearningRate);
    tf.dispose(Object.values(gradients));
  };

  const updateHistory = (images: tf.Tensor4D): void => {
    if (settings.bnMomentum === 0) return;
    const current = batchNormStatistics(teacher, images);
    if (history == null) {
      history = current;
      return;
    }
    const m = settings.bnMomentum;
    const old = history;
    const blend = (a: tf.Tensor1D, b: tf.Tensor1D) => tf.tidy(() => tf.add(tf.mul(a, m), tf.mul(b, 1 - m)) as tf.Tensor1D);
    history = {
      means: old.means.map((h, i) => blend(h, current.means[i])),
      variances: old.variances.map((h, i) => blend(h, current.variances[i])),
    };
    tf.dispose([...old.means, ...old.variances, ...current.means, ...current.variances]);
  };

  const synthesizeBatch = async (index: number, call: SynthesizeBatchOptions = {}): Promise<SynthesizedBatch | undefined> => {
    assertLive();
    if (!Number.isInteger(index) || index < 0)
      throw new Error(`fastSynthesizer: batch index must be a non-negative integer, got ${index}.`);
    if (call.signal?.aborted) return undefined;
    const labels = batchLabels(teacher, options, index, settings.batchSize);
    const withStudent = call.student != null && settings.adversarial.weight > 0 && index >= settings.adversarial.warmupBatches;
    const source = generatorSource({
      teacher,
      labels,
      seed: deriveSeed(settings.seed, 'source', index),
      generator,
      ftp,
      featureTaps: settings.featureTaps,
      learningRates: settings.learningRates,
    });
    let result;
    try {
      result = await synthesize({
        teacher,
        source,
        objective: objectiveFor(withStudent),
        steps: settings.innerSteps,
        targets: labels,
        augmentation,
        seed: deriveSeed(settings.seed, 'batch', index),
        adam: INNER_ADAM,
        student: withStudent ? call.student : undefined,
        signal: call.signal,
        onStep: call.onStep == null ? undefined : (report) => call.onStep?.({ ...report, batch: index }),
      });
      if (result.aborted) {
        result.images.dispose();
        return undefined;
      }
      metaUpdate({
        ...Object.fromEntries(Object.entries(source.generator.parameters).map(([name, v]) => [`generator.${name}`, v])),
        ...Object.fromEntries(Object.entries(source.ftp?.parameters ?? {}).map(([name, v]) => [`ftp.${name}`, v])),
      });
    } finally {
      source.dispose();
    }
    try {
      updateHistory(result.images);
      return finishedBatch(teacher, { method: 'fastInversion', seed: settings.seed, index, labels }, result);
    } finally {
      result.images.dispose();
    }
  };

  const saveState = (): SynthesizerState => {
    assertLive();
    const tensors: Record<string, tf.Tensor> = {};
    const parameters = sharedParameters();
    for (const [name, variable] of parameters) tensors[name] = tf.clone(variable);
    let metaStep = 0;
    if (metaOptimizer.saveState != null) {
      const state = metaOptimizer.saveState();
      metaStep = state.step;
      parameters.forEach(([name], i) => {
        tensors[`meta.first.${name}`] = state.first[i];
        tensors[`meta.second.${name}`] = state.second[i];
      });
    }
    history?.means.forEach((mean, i) => {
      tensors[`bn.mean.${i}`] = tf.clone(mean);
      tensors[`bn.variance.${i}`] = tf.clone(history?.variances[i] as tf.Tensor1D);
    });
    return { tensors, json: { method: 'fastInversion', metaStep, historyLayers: history?.means.length ?? 0 } };
  };

  const restoreState = (state: SynthesizerState): void => {
    assertLive();
    if (state.json.method !== 'fastInversion') {
      throw new Error(`fastSynthesizer: the state was saved by '${String(state.json.method)}', not by the fast method.`);
    }
    const parameters = sharedParameters();
    const need = (key: string, like: tf.Tensor): tf.Tensor => {
      const value = state.tensors[key];
      if (value == null || value.shape.length !== like.shape.length || value.shape.some((d, i) => d !== like.shape[i])) {
        throw new Error(
          `fastSynthesizer: the state has ${value == null ? 'no' : `a [${value.shape}]`} '${key}' where [${like.shape}] is needed; ` +
            'it was saved by a run with other settings (generator size, pyramid).',
        );
      }
      return value;
    };
    const values = parameters.map(([name, variable]) => need(name, variable));
    if (metaOptimizer.restoreState != null) {
      metaOptimizer.restoreState({
        step: Number(state.json.metaStep),
        first: parameters.map(([name, variable]) => need(`meta.first.${name}`, variable)),
        second: parameters.map(([name, variable]) => need(`meta.second.${name}`, variable)),
      });
    }
    parameters.forEach(([, variable], i) => variable.assign(values[i]));
    const layers = Number(state.json.historyLayers ?? 0);
    const old = history;
    history =
      layers === 0
        ? undefined
        : {
            means: Array.from({ length: layers }, (_, i) => tf.clone(state.tensors[`bn.mean.${i}`]) as tf.Tensor1D),
            variances: Array.from({ length: layers }, (_, i) => tf.clone(state.tensors[`bn.variance.${i}`]) as tf.Tensor1D),
          };
    if (old != null) tf.dispose([...old.means, ...old.variances]);
  };

  return {
    method: 'fastInversion',
    steadyFromBatch: settings.adversarial.weight > 0 ? settings.adversarial.warmupBatches : 0,
    settings,
    generator,
    ftp,
    synthesizeBatch,
    saveState,
    restoreState,
    dispose: () => {
      if (disposed) return;
      disposed = true;
      metaOptimizer.dispose();
      generator.dispose();
      ftp?.dispose();
      if (history != null) tf.dispose([...history.means, ...history.variances]);
    },
  };
}

/** Options of {@link fastInversion}: the synthesizer's plus the trainer's batch selection. */
export interface FastInversionRunOptions extends FastInversionOptions {
  /** Called after every inner step of every batch. */
  readonly onStep?: SynthesizeBatchOptions['onStep'];
  /** Stops after the current step; the unfinished batch is dropped, finished ones were yielded. */
  readonly signal?: AbortSignal;
  /** State to start from (a saved run's); default: the freshly initialized shared generator. */
  readonly state?: SynthesizerState;
}

/**
 * The fast method (see {@link fastSynthesizer}) as an async generator of batches, like
 * deepInversion and naturalInversion. Batches are made in the order of `batchIndices` (default
 * 0..batches-1), each one starting from the shared generator as the batches before it left it.
 */
export async function* fastInversion(teacher: Teacher, options: FastInversionRunOptions = {}): AsyncGenerator<SynthesizedBatch> {
  const indices = resolveBatchIndices(options);
  const synthesizer = fastSynthesizer(teacher, options);
  try {
    if (options.state != null) synthesizer.restoreState(options.state);
    for (const index of indices) {
      const batch = await synthesizer.synthesizeBatch(index, { signal: options.signal, onStep: options.onStep });
      if (batch == null) return;
      yield batch;
    }
  } finally {
    synthesizer.dispose();
  }
}
