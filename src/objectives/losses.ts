import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormTap } from '../taps';

/**
 * The loss functions behind the built-in objectives, as plain differentiable functions.
 * Semantics follow the papers' reference code (DESIGN.md section 3).
 */

/**
 * Euclidean (Frobenius) norm of every entry. tf.norm's gradient is NaN at exactly zero; flooring
 * the squared sum keeps the value (below 1e-15 nothing changes in float32) and gives a zero
 * gradient there instead.
 */
export function euclideanNorm(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.maximum(tf.sum(tf.square(x)), 1e-30)) as tf.Scalar);
}

/**
 * One BatchNorm layer's statistics loss: ||var - movingVariance||_2 + ||mean - movingMean||_2
 * with the batch mean and biased variance per channel (over every axis but the last).
 */
export function batchNormLayerLoss(tap: BatchNormTap): tf.Scalar {
  return tf.tidy(() => {
    const axes = tap.input.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(tap.input, axes);
    return tf.add(
      euclideanNorm(tf.sub(variance, tap.movingVariance)),
      euclideanNorm(tf.sub(mean, tap.movingMean)),
    ) as tf.Scalar;
  });
}

/** R_BN: the sum of the layer losses, the first one multiplied by `firstLayerMultiplier`. */
export function batchNormStatisticsLoss(taps: readonly BatchNormTap[], firstLayerMultiplier = 1): tf.Scalar {
  if (taps.length === 0) {
    throw new Error('the BatchNorm statistics loss needs at least one BatchNorm input; none was tapped.');
  }
  return tf.tidy(() => {
    const losses = taps.map((tap, i) => {
      const loss = batchNormLayerLoss(tap);
      return i === 0 && firstLayerMultiplier !== 1 ? tf.mul(loss, firstLayerMultiplier) : loss;
    });
    return tf.addN(losses) as tf.Scalar;
  });
}

/** Mean softmax cross-entropy of `logits` [B, K] against integer `targets` [B]. */
export function crossEntropyLoss(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[logits.rank - 1];
    const oneHot = tf.oneHot(tf.cast(targets, 'int32') as tf.Tensor1D, classes);
    const logProbabilities = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbabilities), -1))) as tf.Scalar;
  });
}

/** Neighbour differences of an NHWC batch: horizontal, vertical and both diagonals. */
export function neighbourDifferences(images: tf.Tensor4D): tf.Tensor[] {
  const [b, h, w, c] = images.shape;
  const at = (top: number, left: number) => tf.slice(images, [0, top, left, 0], [b, h - 1, w - 1, c]);
  const horizontal = tf.sub(tf.slice(images, [0, 0, 0, 0], [b, h, w - 1, c]), tf.slice(images, [0, 0, 1, 0], [b, h, w - 1, c]));
  const vertical = tf.sub(tf.slice(images, [0, 0, 0, 0], [b, h - 1, w, c]), tf.slice(images, [0, 1, 0, 0], [b, h - 1, w, c]));
  const diagonal = tf.sub(at(1, 0), at(0, 1));
  const antiDiagonal = tf.sub(at(0, 0), at(1, 1));
  return [horizontal, vertical, diagonal, antiDiagonal];
}

/** Total-variation prior: `l2` sums the four difference tensors' norms; `l1` their mean absolute values. */
export type TotalVariationForm = 'l1' | 'l2';

export function totalVariationLoss(images: tf.Tensor4D, form: TotalVariationForm = 'l2'): tf.Scalar {
  return tf.tidy(() => {
    const differences = neighbourDifferences(images);
    const terms = differences.map((d) => (form === 'l2' ? euclideanNorm(d) : tf.mean(tf.abs(d))));
    return tf.addN(terms) as tf.Scalar;
  });
}

/**
 * l2 image prior. `batch`: the norm of the whole batch tensor (DI's CIFAR code, NI);
 * `per-image`: the batch mean of per-image norms (DI's ImageNet code).
 */
export type L2PriorForm = 'batch' | 'per-image';

export function l2PriorLoss(images: tf.Tensor4D, form: L2PriorForm = 'batch'): tf.Scalar {
  return tf.tidy(() => {
    if (form === 'batch') return euclideanNorm(images);
    const perImage = tf.sqrt(tf.maximum(tf.sum(tf.square(images), [1, 2, 3]), 1e-30));
    return tf.mean(perImage) as tf.Scalar;
  });
}

/** sum(target * (log target - logInput)) / batch: PyTorch's KLDivLoss with reduction 'batchmean'. */
function klBatchMean(logInput: tf.Tensor, target: tf.Tensor, logTarget: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(target, tf.sub(logTarget, logInput))), logInput.shape[0] as number) as tf.Scalar;
}

/**
 * ADI's competition term: 1 - clamp(JS', 0, 1), where P = softmax(student/T), Q = softmax(teacher/T),
 * M = (P+Q)/2 is formed before clamping, then P, Q, M are clamped to [0.01, 0.99] and
 * JS' = 0.5 KL(M||P) + 0.5 KL(M||Q) (batch mean). Low when student and teacher disagree.
 */
export function competitionLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature = 3): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.softmax(tf.div(studentLogits, temperature));
    const q = tf.softmax(tf.div(teacherLogits, temperature));
    const m = tf.clipByValue(tf.mul(tf.add(p, q), 0.5), 0.01, 0.99);
    const logM = tf.log(m);
    const pc = tf.clipByValue(p, 0.01, 0.99);
    const qc = tf.clipByValue(q, 0.01, 0.99);
    const js = tf.add(tf.mul(klBatchMean(tf.log(pc), m, logM), 0.5), tf.mul(klBatchMean(tf.log(qc), m, logM), 0.5));
    return tf.sub(1, tf.clipByValue(js, 0, 1)) as tf.Scalar;
  });
}

/** Knowledge distillation: KL(softmax(teacher/T) || softmax(student/T)) x T^2, batch mean. */
export function kdLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature = 4): tf.Scalar {
  return tf.tidy(() => {
    const logStudent = tf.logSoftmax(tf.div(studentLogits, temperature));
    const logTeacher = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const kl = klBatchMean(logStudent, tf.exp(logTeacher), logTeacher);
    return tf.mul(kl, temperature * temperature) as tf.Scalar;
  });
}
