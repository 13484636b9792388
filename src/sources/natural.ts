import * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from '../models/teacher';
import { deriveSeed } from '../util/random';
import { AdaptiveChannelScaling, adaptiveChannelScaling } from './adaptive-channel-scaling';
import { ConditionalGenerator, ConditionalGeneratorOptions, ResolvedGeneratorOptions, conditionalGenerator } from './conditional-generator';
import { FeatureSpec, featureSpecsFromModel, integerRatio } from './feature-specs';
import { FeatureTransferPyramid, featureTransferPyramid } from './feature-transfer-pyramid';
import { stopGradient } from './ops';
import type { ImageSource, RenderContext } from './types';

/** Learning rates of NaturalInversion's three optimizers. */
export interface NaturalLearningRates {
  /** Default 1e-3. */
  generator: number;
  /** Default 5e-4. */
  ftp: number;
  /** Default 5e-2. */
  alpha: number;
}

/** Options of {@link naturalSource}. */
export interface NaturalSourceOptions {
  /** The classifier being inverted: supplies classes, image shape and the FTP feature taps. */
  teacher: Teacher;
  /** Number of images. Required. */
  batchSize: number;
  /** Target class per image (length batchSize); see oneToOneLabels. */
  labels: Int32Array | readonly number[];
  /** Seed of every random part (generator, FTP, alpha, latent). Required. */
  seed: number;
  /**
   * Generator overrides. Defaults: latentSize 1024, baseWidth 128, initSize outputSize / 4;
   * numClasses, outputSize and outputChannels come from the teacher (overriding them with other
   * values is an error); the seed is derived from `seed`.
   */
  generator?: Partial<Omit<ConditionalGeneratorOptions, 'seed'>>;
  /** Teacher layers feeding the FTP, deepest first. Default teacher.featureTaps. */
  featureTaps?: readonly string[];
  /** Per-group learning rates; defaults { generator: 1e-3, ftp: 5e-4, alpha: 5e-2 }. */
  learningRates?: Partial<NaturalLearningRates>;
  /**
   * The latent z, [batchSize, latentSize], instead of the seeded N(0, 1) draw (parity checks,
   * latent interpolation). Copied: the caller keeps ownership. Default: drawn from the seed.
   */
  latent?: tf.Tensor2D;
}

/** What a natural source was built from, as plain data (for run manifests). */
export interface NaturalSourceConfig {
  readonly teacher: string;
  readonly batchSize: number;
  readonly seed: number;
  readonly labels: number[];
  readonly generator: ResolvedGeneratorOptions;
  readonly features: readonly FeatureSpec[];
  readonly learningRates: NaturalLearningRates;
}

/** NaturalInversion's image source: conditional generator + FTP + ACS for one batch. */
export interface NaturalSource extends ImageSource {
  readonly labels: Int32Array;
  readonly featureTaps: readonly string[];
  readonly generator: ConditionalGenerator;
  readonly ftp: FeatureTransferPyramid;
  readonly acs: AdaptiveChannelScaling;
  /** The fixed generator input z ⊕ one-hot(labels), [B, latentSize + numClasses]. */
  readonly generatorInput: tf.Tensor2D;
  readonly config: NaturalSourceConfig;
  /**
   * Re-expresses tensors keyed by tf.Variable name (tf.variableGrads, optimizers) in PyTorch
   * layout under the reference's names: `generator.<param>`, `ftp.<param>`, `alpha`.
   * Caller owns the result.
   */
  toPytorchLayout(tensors: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor>;
}

const DEFAULT_LEARNING_RATES: NaturalLearningRates = { generator: 1e-3, ftp: 5e-4, alpha: 5e-2 };

function resolveLabels(labels: Int32Array | readonly number[], batchSize: number, numClasses: number): Int32Array {
  if (labels == null || typeof labels.length !== 'number') {
    throw new Error('naturalSource: labels are required (one class per image); oneToOneLabels makes them.');
  }
  if (labels.length !== batchSize) {
    throw new Error(`naturalSource: got ${labels.length} labels for batchSize ${batchSize}; pass one label per image.`);
  }
  const bad = Array.from(labels).findIndex((l) => !Number.isInteger(l) || l < 0 || l >= numClasses);
  if (bad >= 0) {
    throw new Error(`naturalSource: labels[${bad}] = ${labels[bad]} is not a class in [0, ${numClasses - 1}].`);
  }
  return Int32Array.from(labels);
}

function resolveLearningRates(given: Partial<NaturalLearningRates> | undefined): NaturalLearningRates {
  const rates = { ...DEFAULT_LEARNING_RATES, ...(given ?? {}) };
  for (const [group, rate] of Object.entries(rates)) {
    if (!(Number.isFinite(rate) && rate > 0)) {
      throw new Error(`naturalSource: learningRates.${group} must be a positive number, got ${rate}.`);
    }
  }
  return rates;
}

/**
 * NaturalInversion's source for one batch ("one-to-one": build a fresh one per batch from that
 * batch's seed). Three variable groups, `generator`, `ftp` and `alpha`, and a fixed latent
 * z ~ N(0, 1). render(context):
 * g = G(z ⊕ onehot(labels)); ga = context.augment(g);
 * taps = context.teacherFeatures(ga, featureTaps) (no gradient flows into them);
 * image = alpha * FTP(ga, taps).
 * Every random part is seeded with deriveSeed(seed, part), so the same seed gives the same source.
 */
export function naturalSource(options: NaturalSourceOptions): NaturalSource {
  if (options == null || typeof options !== 'object') {
    throw new Error('naturalSource: pass an options object { teacher, batchSize, labels, seed }.');
  }
  const { teacher, batchSize, seed } = options;
  if (teacher == null || teacher.model == null) {
    throw new Error('naturalSource: teacher is required (a Teacher with its model, numClasses, inputShape, featureTaps).');
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`naturalSource: batchSize must be a positive integer, got ${batchSize}.`);
  }
  if (!Number.isInteger(seed)) throw new Error(`naturalSource: seed must be an integer, got ${seed}.`);
  const [height, width, channels] = teacher.inputShape;
  if (height !== width) {
    throw new Error(`naturalSource: the generator makes square images, but teacher ${teacher.name} expects ${height}x${width}.`);
  }
  const learningRates = resolveLearningRates(options.learningRates);
  const featureTaps = [...(options.featureTaps ?? teacher.featureTaps)];
  if (featureTaps.length === 0) {
    throw new Error(`naturalSource: teacher ${teacher.name} lists no featureTaps; pass featureTaps (layer names, deepest first).`);
  }
  const features = featureSpecsFromModel(teacher.model, featureTaps);
  const largest = features[features.length - 1];
  const outputSize = options.generator?.outputSize ?? height;
  if (outputSize !== height) {
    throw new Error(`naturalSource: generator.outputSize ${outputSize} differs from the teacher's input size ${height}.`);
  }
  if (integerRatio(largest.height, height) == null || integerRatio(largest.width, width) == null) {
    throw new Error(
      `naturalSource: the image (${height}x${width}) must be a whole-number upscale of the largest feature tap ` +
        `${largest.name} (${largest.height}x${largest.width}).`,
    );
  }
  const numClasses = options.generator?.numClasses ?? teacher.numClasses;
  if (numClasses !== teacher.numClasses) {
    throw new Error(
      `naturalSource: generator.numClasses ${numClasses} differs from teacher ${teacher.name}'s ${teacher.numClasses} classes; ` +
        `the one-hot label width is the teacher's number of classes (leave generator.numClasses out).`,
    );
  }
  const outputChannels = options.generator?.outputChannels ?? channels;
  if (outputChannels !== channels) {
    throw new Error(`naturalSource: generator.outputChannels ${outputChannels} differs from the teacher's ${channels} input channels.`);
  }
  const labels = resolveLabels(options.labels, batchSize, numClasses);

  const generator = conditionalGenerator({
    numClasses,
    outputChannels: channels,
    ...options.generator,
    outputSize,
    seed: deriveSeed(seed, 'generator'),
  });
  const built: Array<{ dispose(): void }> = [generator];
  try {
    const ftp = featureTransferPyramid({ features, imageChannels: channels, seed: deriveSeed(seed, 'ftp') });
    built.push(ftp);
    const acs = adaptiveChannelScaling({ batchSize, channels, seed: deriveSeed(seed, 'alpha') });
    built.push(acs);
    const latentSize = generator.options.latentSize;
    const given = options.latent;
    if (given != null && (given.rank !== 2 || given.shape[0] !== batchSize || given.shape[1] !== latentSize)) {
      throw new Error(`naturalSource: latent must be [${batchSize}, ${latentSize}] (batchSize, latentSize), got [${given.shape}].`);
    }
    const generatorInput = tf.tidy(() => {
      const z =
        given != null ? tf.cast(given, 'float32') : tf.randomNormal([batchSize, latentSize], 0, 1, 'float32', deriveSeed(seed, 'latent'));
      const oneHot = tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses), 'float32');
      return tf.concat([z, oneHot], 1) as tf.Tensor2D;
    });
    let disposed = false;

    const render = (context: RenderContext): tf.Tensor4D => {
      if (disposed) throw new Error('naturalSource: this source was disposed; build a new one per batch.');
      return tf.tidy(() => {
        const g = generator.forward(generatorInput);
        const ga = context.augment(g);
        const taps = context.teacherFeatures(ga, featureTaps).map((t) => stopGradient(t));
        return acs.apply(ftp.forward(ga, taps));
      });
    };

    const toPytorchLayout = (tensors: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor> => {
      const out: Record<string, tf.Tensor> = {};
      for (const [name, value] of Object.entries(generator.toPytorchLayout(tensors))) out[`generator.${name}`] = value;
      for (const [name, value] of Object.entries(ftp.toPytorchLayout(tensors))) out[`ftp.${name}`] = value;
      const alpha = tensors[acs.alpha.name] ?? tensors.alpha;
      if (alpha != null) out.alpha = tf.clone(alpha);
      return out;
    };

    return {
      name: 'natural',
      batchSize,
      labels,
      featureTaps,
      generator,
      ftp,
      acs,
      generatorInput,
      config: {
        teacher: teacher.name,
        batchSize,
        seed,
        labels: Array.from(labels),
        generator: generator.options,
        features: ftp.features,
        learningRates,
      },
      groups: [
        { name: 'generator', variables: Object.values(generator.parameters), learningRate: learningRates.generator },
        { name: 'ftp', variables: Object.values(ftp.parameters), learningRate: learningRates.ftp },
        { name: 'alpha', variables: [acs.alpha], learningRate: learningRates.alpha },
      ],
      render,
      toPytorchLayout,
      dispose: () => {
        if (disposed) return;
        disposed = true;
        generatorInput.dispose();
        for (const part of built) part.dispose();
      },
    };
  } catch (error) {
    for (const part of built) part.dispose();
    throw error;
  }
}
