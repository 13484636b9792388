/**
 * The ablation rows of the NaturalInversion paper (Table 3): the conditional generator alone,
 * with the Feature Transfer Pyramid, with Adaptive Channel Scaling, and with both (= NI). Built
 * from the exported parts of `naturalSource` (same seeds, same initialization), so the `ftp + acs`
 * variant renders exactly what `naturalInversion` renders; only the parts left out change.
 */
import * as tf from '@tensorflow/tfjs-core';
import { compose, flip, jitter } from '../src/augment';
import type { Teacher } from '../src/models/teacher';
import { bnStatistics, crossEntropy, l2Prior, totalVariation, weighted } from '../src/objectives';
import { naturalSource, NaturalSource, NaturalSourceOptions } from '../src/sources/natural';
import { stopGradient } from '../src/sources/ops';
import type { ImageSource, RenderContext } from '../src/sources/types';
import type { SynthesizedBatch } from '../src/synthesis/batch';
import { NATURAL_INVERSION_PRESETS } from '../src/synthesis/methods';
import { runBatches, TrainerOptions } from '../src/synthesis/trainer';
import { deriveSeed } from '../src/util/random';

/** Which of NaturalInversion's two refinements follow the generator. */
export interface NaturalParts {
  /** Feature Transfer Pyramid on the (augmented) generator output. */
  readonly ftp: boolean;
  /** Adaptive Channel Scaling (alpha x image). */
  readonly acs: boolean;
}

/** The method name a variant's batches carry. */
export function ablationName(parts: NaturalParts): string {
  if (parts.ftp && parts.acs) return 'naturalInversion';
  return `generator${parts.ftp ? '+ftp' : ''}${parts.acs ? '+acs' : ''}`;
}

/**
 * An image source made of `full`'s generator with only the chosen parts; optimizes only their
 * variables. Without the FTP the generator output (scaled by alpha with ACS) is the image: the
 * loop's augmentation is then the only one, as the paper's generator-only baseline. The source
 * owns `full` and disposes it.
 */
export function ablatedSource(full: NaturalSource, parts: NaturalParts): ImageSource {
  const groups = full.groups.filter((g) => (g.name !== 'ftp' || parts.ftp) && (g.name !== 'alpha' || parts.acs));
  return {
    name: ablationName(parts),
    batchSize: full.batchSize,
    labels: full.labels,
    groups,
    render: (context: RenderContext): tf.Tensor4D =>
      tf.tidy(() => {
        const g = full.generator.forward(full.generatorInput);
        let image = g;
        if (parts.ftp) {
          const ga = context.augment(g);
          const taps = context.teacherFeatures(ga, full.featureTaps).map((t) => stopGradient(t));
          image = full.ftp.forward(ga, taps);
        }
        return parts.acs ? full.acs.apply(image) : image;
      }),
    dispose: () => full.dispose(),
  };
}

/**
 * A NaturalInversion trainer with parts left out: `naturalInversion`'s CIFAR defaults (weights
 * ce 1 / bn 10 (3 for 100+ classes) / tv 6e-3 / l2 1.5e-5, jitter 2 + flip, Adam per group,
 * one-to-one sources seeded per batch), the same seeds, so batch i differs from NI's batch i only
 * by the missing parts.
 */
export function naturalAblation(
  teacher: Teacher,
  options: TrainerOptions & NaturalParts & { readonly generator?: NaturalSourceOptions['generator'] },
): AsyncGenerator<SynthesizedBatch> {
  const preset = NATURAL_INVERSION_PRESETS[teacher.numClasses >= 100 ? 'cifar100' : 'cifar10'];
  const objective = weighted([
    [preset.weights.ce, crossEntropy()],
    [preset.weights.bn, bnStatistics({ firstLayerMultiplier: 1 })],
    [preset.weights.tv, totalVariation('l2', { name: 'tv' })],
    [preset.weights.l2, l2Prior('batch')],
  ]);
  const augmentation = compose(jitter({ maxShift: 2 }), flip());
  const batchSize = options.batchSize ?? preset.batchSize;
  const seed = options.seed ?? 0;
  const steps = options.steps ?? preset.steps;
  const parts = { ftp: options.ftp, acs: options.acs };
  return runBatches(teacher, ablationName(parts), { ...options, steps, batchSize }, (index, labels) => ({
    source: ablatedSource(
      naturalSource({ teacher, batchSize, labels, seed: deriveSeed(seed, 'source', index), generator: options.generator }),
      parts,
    ),
    synthesis: { objective, augmentation },
  }));
}
