import * as tf from '@tensorflow/tfjs-core';
import type { TappedNetwork } from '../taps';
import {
  batchNormStatisticsLoss,
  competitionLoss,
  crossEntropyLoss,
  kdLoss,
  maskedDisagreementLoss,
  l2PriorLoss,
  L2PriorForm,
  totalVariationLoss,
  TotalVariationForm,
} from './losses';
import type { EvaluationContext, Objective } from './types';

export interface BnStatisticsOptions {
  /** BatchNorm layers to match, by name. Default: every BatchNorm layer of the teacher. */
  readonly layers?: readonly string[];
  /** Multiplier of the first (selected) layer's loss: 10 in DI's ImageNet code. Default 1. */
  readonly firstLayerMultiplier?: number;
  /** Term name. Default `bn`. */
  readonly name?: string;
  /**
   * Earlier batches' statistics mixed into this batch's before the comparison (Fast-Datafree):
   * each layer's loss becomes ||m h + (1 - m) s - moving|| for the batch statistic s and the
   * history h. Default: none (plain R_BN).
   */
  readonly history?: BatchNormHistory;
}

/** Running averages of earlier batches' BatchNorm statistics, one per matched layer in model order. */
export interface BatchNormHistory {
  /** Weight m of the history in the mix, in [0, 1). */
  readonly momentum: number;
  readonly means: readonly tf.Tensor1D[];
  readonly variances: readonly tf.Tensor1D[];
}

/** R_BN: match the batch statistics at every BatchNorm input to the stored running statistics. */
export function bnStatistics(options: BnStatisticsOptions = {}): Objective {
  const momentum = options.history?.momentum;
  if (momentum != null && !(momentum >= 0 && momentum < 1)) {
    throw new Error(`bnStatistics: history.momentum must be in [0, 1), got ${momentum}.`);
  }
  const name = options.name ?? 'bn';
  const multiplier = options.firstLayerMultiplier ?? 1;
  const selected = options.layers;
  return {
    name,
    requires: { batchNorm: true },
    prepare(network: TappedNetwork) {
      if (network.batchNormLayers.length === 0) {
        throw new Error(
          `${name}: model '${network.model.name}' has no BatchNormalization layer, so there are no ` +
            'statistics to match. Use a teacher trained with BatchNorm, or leave bnStatistics out of the objective.',
        );
      }
      const unknown = (selected ?? []).filter((layer) => !network.batchNormLayers.includes(layer));
      if (unknown.length > 0) {
        throw new Error(
          `${name}: ${unknown.map((u) => `'${u}'`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a BatchNormalization ` +
            `layer of model '${network.model.name}'. Its BatchNorm layers are: ${network.batchNormLayers.join(', ')}.`,
        );
      }
    },
    evaluate({ teacher }: EvaluationContext) {
      const taps = selected == null ? teacher.batchNorm : teacher.batchNorm.filter((t) => selected.includes(t.layer));
      if (taps.length === 0) {
        throw new Error(`${name}: the forward pass collected no BatchNorm inputs; run it with { batchNorm: true }.`);
      }
      const history = options.history;
      if (history == null) return batchNormStatisticsLoss(taps, multiplier);
      if (history.means.length !== taps.length || history.variances.length !== taps.length) {
        throw new Error(
          `${name}: the history holds ${history.means.length} layers' statistics but ${taps.length} BatchNorm layers are matched.`,
        );
      }
      // ||m h + (1 - m) s - moving|| = (1 - m) ||s - (moving - m h) / (1 - m)||: R_BN against shifted targets.
      const m = history.momentum;
      const shifted = taps.map((tap, i) => ({
        ...tap,
        movingMean: tf.div(tf.sub(tap.movingMean, tf.mul(history.means[i], m)), 1 - m) as tf.Tensor1D,
        movingVariance: tf.div(tf.sub(tap.movingVariance, tf.mul(history.variances[i], m)), 1 - m) as tf.Tensor1D,
      }));
      return tf.mul(batchNormStatisticsLoss(shifted, multiplier), 1 - m) as tf.Scalar;
    },
  };
}

/** Cross-entropy of the teacher's logits toward the target labels. */
export function crossEntropy(options: { readonly name?: string } = {}): Objective {
  const name = options.name ?? 'ce';
  return {
    name,
    requires: { targets: true },
    evaluate({ teacher, targets }: EvaluationContext) {
      if (targets == null) throw new Error(`${name}: cross-entropy needs target labels, and this evaluation has none.`);
      return crossEntropyLoss(teacher.logits, targets);
    },
  };
}

/** Total variation of the images the teacher saw (`l2` form by default). */
export function totalVariation(form: TotalVariationForm = 'l2', options: { readonly name?: string } = {}): Objective {
  if (form !== 'l1' && form !== 'l2') throw new Error(`totalVariation: form must be 'l1' or 'l2', got '${form}'.`);
  return {
    name: options.name ?? `tv_${form}`,
    evaluate: ({ images }: EvaluationContext) => totalVariationLoss(images, form),
  };
}

/** l2 prior on the images: the whole batch's norm (`batch`, default) or the mean per-image norm. */
export function l2Prior(form: L2PriorForm = 'batch', options: { readonly name?: string } = {}): Objective {
  if (form !== 'batch' && form !== 'per-image') {
    throw new Error(`l2Prior: form must be 'batch' or 'per-image', got '${form}'.`);
  }
  return { name: options.name ?? 'l2', evaluate: ({ images }: EvaluationContext) => l2PriorLoss(images, form) };
}

function studentLogits(name: string, context: EvaluationContext) {
  if (context.student == null) {
    throw new Error(`${name}: this term compares a student with the teacher, and this evaluation has no student.`);
  }
  return context.student.logits;
}

/** ADI's competition term (temperature 3 by default): rewards student/teacher disagreement. */
export function competition(options: { readonly temperature?: number; readonly name?: string } = {}): Objective {
  const name = options.name ?? 'competition';
  const temperature = options.temperature ?? 3;
  return {
    name,
    requires: { student: true },
    evaluate: (context: EvaluationContext) => competitionLoss(studentLogits(name, context), context.teacher.logits, temperature),
  };
}

/** Knowledge-distillation loss of the student toward the teacher: KL x T^2 (T 4 by default). */
export function kd(options: { readonly temperature?: number; readonly name?: string } = {}): Objective {
  const name = options.name ?? 'kd';
  const temperature = options.temperature ?? 4;
  return {
    name,
    requires: { student: true },
    evaluate: (context: EvaluationContext) => kdLoss(studentLogits(name, context), context.teacher.logits, temperature),
  };
}

/**
 * Fast-Datafree's adversarial term against a student (temperature 20 by default): see
 * maskedDisagreementLoss. Negative; lower when the student disagrees more where it still agrees.
 */
export function adversarial(options: { readonly temperature?: number; readonly name?: string } = {}): Objective {
  const name = options.name ?? 'adversarial';
  const temperature = options.temperature ?? 20;
  return {
    name,
    requires: { student: true },
    evaluate: (context: EvaluationContext) => maskedDisagreementLoss(studentLogits(name, context), context.teacher.logits, temperature),
  };
}
