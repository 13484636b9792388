import * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from '../models/teacher';
import { deriveSeed } from '../util/random';
import { AdaptiveChannelScaling, adaptiveChannelScaling } from './adaptive-channel-scaling';
import { ConditionalGenerator, conditionalGenerator } from './conditional-generator';
import { FeatureTransferPyramid, featureTransferPyramid } from './feature-transfer-pyramid';
import { stopGradient } from './ops';
import { ParameterSet } from './parameters';
import type { ImageSource, RenderContext, VariableGroup } from './types';

/** Learning rates of {@link generatorSource}'s groups. */
export interface GeneratorSourceLearningRates {
  /** The generator copy. Default 5e-3 (Fast-Datafree). */
  generator: number;
  /** The learnable latents. Default 1.5e-2 (Fast-Datafree). */
  latent: number;
  /** The FTP copy (with `ftp` only). Default 5e-4 (NaturalInversion). */
  ftp: number;
  /** ACS alpha (with `ftp` only). Default 5e-2 (NaturalInversion). */
  alpha: number;
}

/** Options of {@link generatorSource}. */
export interface GeneratorSourceOptions {
  /** The classifier being inverted: supplies the image shape and, with `ftp`, the feature taps. */
  teacher: Teacher;
  /** Target class per image; its length is the batch size. */
  labels: Int32Array | readonly number[];
  /** Seed of the latents (and of ACS alpha). Required. */
  seed: number;
  /** The generator whose weights the source starts from; copied, never changed. */
  generator: ConditionalGenerator;
  /**
   * A Feature Transfer Pyramid whose weights the source's own FTP starts from (copied, never
   * changed). When given, the image is `alpha * FTP(augmented G output, teacher features)` with a
   * fresh Adaptive Channel Scaling alpha ~ N(5, 1) per image, as in NaturalInversion.
   */
  ftp?: FeatureTransferPyramid;
  /** Teacher layers feeding the FTP, deepest first (with `ftp` only); must match `ftp.features`. */
  featureTaps?: readonly string[];
  /** Per-group learning rates; see {@link GeneratorSourceLearningRates} for the defaults. */
  learningRates?: Partial<GeneratorSourceLearningRates>;
}

/** A generator copy with learnable latents: what the fast method adapts for one batch. */
export interface GeneratorSource extends ImageSource {
  readonly labels: Int32Array;
  /** The adapted copy of the generator (read its parameters after the adaptation). */
  readonly generator: ConditionalGenerator;
  /** The adapted copy of the FTP, when the source was built with one. */
  readonly ftp?: FeatureTransferPyramid;
  readonly acs?: AdaptiveChannelScaling;
  /** The latents z, [batchSize, latentSize], N(0, 1) at the start. */
  readonly latent: tf.Variable;
}

export const GENERATOR_SOURCE_LEARNING_RATES: Readonly<GeneratorSourceLearningRates> = {
  generator: 5e-3,
  latent: 1.5e-2,
  ftp: 5e-4,
  alpha: 5e-2,
};

function copyParameters(from: Readonly<Record<string, tf.Variable>>, to: Readonly<Record<string, tf.Variable>>): void {
  for (const [name, variable] of Object.entries(to)) variable.assign(from[name]);
}

function checkLabels(labels: Int32Array | readonly number[], numClasses: number): Int32Array {
  if (labels == null || typeof labels.length !== 'number' || labels.length === 0) {
    throw new Error('generatorSource: labels are required (one class per image); oneToOneLabels makes them.');
  }
  const bad = Array.from(labels).findIndex((l) => !Number.isInteger(l) || l < 0 || l >= numClasses);
  if (bad >= 0) throw new Error(`generatorSource: labels[${bad}] = ${labels[bad]} is not a class in [0, ${numClasses - 1}].`);
  return Int32Array.from(labels);
}

/**
 * A copy of `generator` conditioned on `labels`, with learnable latents, optionally refined by a
 * copy of an FTP and scaled by a fresh ACS: render = G'(z ⊕ onehot(labels)), or
 * alpha * FTP'(augment(G'(...)), teacher features). Groups `generator`, `latent` (and `ftp`,
 * `alpha`). The originals are left untouched, so the caller can compare them with the adapted copy.
 */
export function generatorSource(options: GeneratorSourceOptions): GeneratorSource {
  const { teacher, generator: shared, seed } = options;
  if (!Number.isInteger(seed)) throw new Error(`generatorSource: seed must be an integer, got ${seed}.`);
  const [height, , channels] = teacher.inputShape;
  const resolved = shared.options;
  if (resolved.outputSize !== height || resolved.outputChannels !== channels || resolved.numClasses !== teacher.numClasses) {
    throw new Error(
      `generatorSource: the generator makes ${resolved.outputSize}x${resolved.outputSize}x${resolved.outputChannels} images for ` +
        `${resolved.numClasses} classes, but teacher ${teacher.name} expects ${teacher.inputShape.join('x')} and has ${teacher.numClasses} classes.`,
    );
  }
  const labels = checkLabels(options.labels, teacher.numClasses);
  const batchSize = labels.length;
  const rates = { ...GENERATOR_SOURCE_LEARNING_RATES, ...options.learningRates };
  for (const [group, rate] of Object.entries(rates)) {
    if (!(Number.isFinite(rate) && rate > 0))
      throw new Error(`generatorSource: learningRates.${group} must be a positive number, got ${rate}.`);
  }
  const featureTaps = options.ftp == null ? [] : [...(options.featureTaps ?? teacher.featureTaps)];
  if (options.ftp != null && featureTaps.length !== options.ftp.features.length) {
    throw new Error(
      `generatorSource: the FTP reads ${options.ftp.features.length} feature maps but ${featureTaps.length} feature taps were given; ` +
        'pass the taps the FTP was built for (deepest first).',
    );
  }

  const built: Array<{ dispose(): void }> = [];
  try {
    const generator = conditionalGenerator({ ...resolved });
    built.push(generator);
    copyParameters(shared.parameters, generator.parameters);
    let ftp: FeatureTransferPyramid | undefined;
    let acs: AdaptiveChannelScaling | undefined;
    if (options.ftp != null) {
      ftp = featureTransferPyramid({ features: options.ftp.features, imageChannels: options.ftp.imageChannels, seed: 0 });
      built.push(ftp);
      copyParameters(options.ftp.parameters, ftp.parameters);
      acs = adaptiveChannelScaling({ batchSize, channels, seed: deriveSeed(seed, 'alpha') });
      built.push(acs);
    }
    const latents = new ParameterSet('latent');
    built.push(latents);
    const latent = latents.add('z', tf.randomNormal([batchSize, resolved.latentSize], 0, 1, 'float32', deriveSeed(seed, 'latent')), 'same');
    const oneHot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), resolved.numClasses), 'float32'));
    built.push(oneHot);
    let disposed = false;

    const render = (context: RenderContext): tf.Tensor4D => {
      if (disposed) throw new Error('generatorSource: this source was disposed; build a new one per batch.');
      return tf.tidy(() => {
        const g = generator.forward(tf.concat([latent, oneHot], 1) as tf.Tensor2D);
        if (ftp == null || acs == null) return g;
        const ga = context.augment(g);
        const taps = context.teacherFeatures(ga, featureTaps).map((t) => stopGradient(t));
        return acs.apply(ftp.forward(ga, taps));
      });
    };

    const groups: VariableGroup[] = [
      { name: 'generator', variables: Object.values(generator.parameters), learningRate: rates.generator },
      { name: 'latent', variables: [latent], learningRate: rates.latent },
    ];
    if (ftp != null && acs != null) {
      groups.push({ name: 'ftp', variables: Object.values(ftp.parameters), learningRate: rates.ftp });
      groups.push({ name: 'alpha', variables: [acs.alpha], learningRate: rates.alpha });
    }
    return {
      name: ftp == null ? 'generator' : 'generator+ftp',
      batchSize,
      labels,
      generator,
      ftp,
      acs,
      latent,
      groups,
      render,
      dispose: () => {
        if (disposed) return;
        disposed = true;
        for (const part of built) part.dispose();
      },
    };
  } catch (error) {
    for (const part of built) part.dispose();
    throw error;
  }
}
