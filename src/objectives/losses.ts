import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormTap } from '../taps';
import { channelMean, scaleShift } from '../taps/layer-ops';

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
  return tf.tidy(() => tf.sqrt(tf.maximum(tf.sum(tf.square(x)), NORM_FLOOR)) as tf.Scalar);
}

/** Squared sums below this count as zero: see {@link euclideanNorm}. */
const NORM_FLOOR = 1e-30;

/**
 * `dy` times d sqrt(max(s, floor)) / d s, times 2: dy / norm where s >= floor, else 0 (as
 * tf.maximum's gradient). The gradient of the norm with respect to the entry d is this times d.
 */
function flooredNormGradient(dy: tf.Tensor, squaredSums: tf.Tensor, norms: tf.Tensor): tf.Tensor {
  return tf.div(tf.mul(dy, tf.cast(tf.greaterEqual(squaredSums, NORM_FLOOR), 'float32')), norms);
}

/**
 * One BatchNorm layer's statistics loss: ||var - movingVariance||_2 + ||mean - movingMean||_2
 * with the batch mean and biased variance per channel (over every axis but the last).
 */
export function batchNormLayerLoss(tap: BatchNormTap): tf.Scalar {
  return batchNormStatisticsLoss([tap]);
}

/**
 * Where every channel of every layer sits in R_BN's vectors: the variance differences of all
 * layers (T channels), then the mean differences (T more); segment s < L is layer s's variance,
 * L + s its mean. Host-side only, cached by the layers' sizes.
 */
interface StatisticsLayout {
  readonly channels: number[];
  /** [2T, 2L]: 1 where channel c belongs to segment s (sums the squares of a segment). */
  readonly segments: Float32Array;
  /** [2L, 2T]: d (statistic c) / d x per (x - mean): 2 / n for a variance, 1 / n for a mean, where c is in s. */
  readonly expand: Float32Array;
  readonly total: number;
}

// A run taps the same layers every step: a few layouts at most. Bounded so that a process trying
// many teachers or batch sizes does not keep them all.
const LAYOUT_CACHE_SIZE = 8;
const layouts = new Map<string, StatisticsLayout>();

function statisticsLayout(inputs: readonly tf.Tensor[]): StatisticsLayout {
  const key = inputs.map((x) => x.shape.join('x')).join(',');
  let layout = layouts.get(key);
  if (layout == null) {
    const channels = inputs.map((x) => x.shape[x.rank - 1]);
    const counts = inputs.map((x, l) => x.size / channels[l]);
    const total = channels.reduce((a, b) => a + b, 0);
    const layers = inputs.length;
    const segments = new Float32Array(2 * total * 2 * layers);
    const expand = new Float32Array(2 * layers * 2 * total);
    let offset = 0;
    channels.forEach((c, l) => {
      for (let i = 0; i < c; i++) {
        for (const [segment, column, factor] of [
          [l, offset + i, 2 / counts[l]],
          [layers + l, total + offset + i, 1 / counts[l]],
        ]) {
          segments[column * 2 * layers + segment] = 1;
          expand[segment * 2 * total + column] = factor;
        }
      }
      offset += c;
    });
    layout = { channels, segments, expand, total };
    if (layouts.size >= LAYOUT_CACHE_SIZE) layouts.delete(layouts.keys().next().value as string);
    layouts.set(key, layout);
  }
  return layout;
}

/**
 * R_BN: the sum of the layer losses, the first one multiplied by `firstLayerMultiplier`.
 *
 * One op over every tapped layer with a closed-form input gradient, so that the per-layer work
 * is three kernels forward (mean, squared difference, mean) and one backward (a per-channel
 * scale and shift of x), and the rest runs once on vectors of all channels. With n values per channel, dv = var - movingVariance and
 * dm = mean - movingMean, a layer's gradient is x * a + (dm / (n |dm|) - mean * a),
 * a = 2 dv / (n |dv|) (times the layer's weight). The moving statistics get no gradient.
 */
export function batchNormStatisticsLoss(taps: readonly BatchNormTap[], firstLayerMultiplier = 1): tf.Scalar {
  if (taps.length === 0) {
    throw new Error('the BatchNorm statistics loss needs at least one BatchNorm input; none was tapped.');
  }
  const inputs = taps.map((tap) => tap.input);
  const layout = statisticsLayout(inputs);
  const layers = taps.length;
  const { total } = layout;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args.slice(0, layers) as tf.Tensor[];
    const save = args[layers] as tf.GradSaveFunc;
    const means = xs.map((x) => channelMean(x));
    const variances = xs.map((x, l) => channelMean(tf.squaredDifference(x, means[l])));
    const statistics = tf.concat([...variances, ...means]);
    const moving = tf.concat([...taps.map((t) => t.movingVariance), ...taps.map((t) => t.movingMean)]);
    const differences = tf.sub(statistics, moving);
    const segments = tf.tensor2d(layout.segments, [2 * total, 2 * layers]);
    const squaredSums = tf.matMul(tf.reshape(tf.square(differences), [1, 2 * total]), segments);
    const norms = tf.sqrt(tf.maximum(squaredSums, NORM_FLOOR));
    const weights = tf.tensor2d(
      Array.from({ length: 2 * layers }, (_, s) => (s % layers === 0 ? firstLayerMultiplier : 1)),
      [1, 2 * layers],
    );
    save([...xs, statistics, differences, squaredSums, norms, weights]);
    return {
      value: tf.sum(tf.mul(norms, weights)) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [stats, diffs, sums, n, w] = saved.slice(layers);
        const perSegment = tf.mul(flooredNormGradient(dy, sums, n), w);
        // Per channel: a for the variances, dm / (n |dm|) for the means (the layer's weight included).
        const expand = tf.tensor2d(layout.expand, [2 * layers, 2 * total]);
        const perChannel = tf.mul(tf.reshape(tf.matMul(perSegment, expand), [2 * total]), diffs);
        const [a, fromMean] = tf.split(perChannel, 2);
        const b = tf.sub(fromMean, tf.mul(tf.slice(stats, total, total), a));
        const as = tf.split(a, layout.channels);
        const bs = tf.split(b, layout.channels);
        return saved.slice(0, layers).map((x, l) => scaleShift(x, as[l], bs[l]));
      },
    };
  });
  return tf.tidy(() => op(...inputs));
}

/** Mean softmax cross-entropy of `logits` [B, K] against integer `targets` [B]. */
export function crossEntropyLoss(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[logits.rank - 1];
    const oneHot = tf.oneHot(tf.cast(targets, 'int32'), classes);
    const logProbabilities = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbabilities), -1))) as tf.Scalar;
  });
}

/**
 * The four neighbour pairs of an [h, w] image: each difference is the window at `a` minus the
 * window at `b`, both of size `size` (rows, columns), as [top, left] offsets: horizontal,
 * vertical, diagonal (x[1:, :-1] - x[:-1, 1:]) and anti-diagonal (x[:-1, :-1] - x[1:, 1:]).
 */
function neighbourPairs(h: number, w: number): Array<{ a: [number, number]; b: [number, number]; size: [number, number] }> {
  return [
    { a: [0, 0], b: [0, 1], size: [h, w - 1] },
    { a: [0, 0], b: [1, 0], size: [h - 1, w] },
    { a: [1, 0], b: [0, 1], size: [h - 1, w - 1] },
    { a: [0, 0], b: [1, 1], size: [h - 1, w - 1] },
  ];
}

/** Neighbour differences of an NHWC batch: horizontal, vertical and both diagonals. */
export function neighbourDifferences(images: tf.Tensor4D): tf.Tensor[] {
  const [b, h, w, c] = images.shape;
  const window = (at: [number, number], size: [number, number]) => tf.slice(images, [0, at[0], at[1], 0], [b, size[0], size[1], c]);
  return neighbourPairs(h, w).map((pair) => tf.sub(window(pair.a, pair.size), window(pair.b, pair.size)));
}

/** Total-variation prior: `l2` sums the four difference tensors' norms; `l1` their mean absolute values. */
export type TotalVariationForm = 'l1' | 'l2';

export function totalVariationLoss(images: tf.Tensor4D, form: TotalVariationForm = 'l2'): tf.Scalar {
  const [, h, w] = images.shape;
  if (form === 'l2' && h > 1 && w > 1) return totalVariationL2(images);
  return tf.tidy(() => {
    const differences = neighbourDifferences(images);
    const terms = differences.map((d) => (form === 'l2' ? euclideanNorm(d) : tf.mean(tf.abs(d))));
    return tf.addN(terms) as tf.Scalar;
  });
}

/**
 * TV (l2) as one op with a closed-form gradient: per difference d = A - B with weight
 * c = 1 / ||d||, the gradient is c d placed at A's window minus c d at B's (two pads), summed.
 * About forty kernels where differentiating the composition takes over a hundred.
 */
function totalVariationL2(images: tf.Tensor4D): tf.Scalar {
  const [b, h, w, c] = images.shape;
  const pairs = neighbourPairs(h, w);
  const padding = (at: [number, number], size: [number, number]): Array<[number, number]> => [
    [0, 0],
    [at[0], h - at[0] - size[0]],
    [at[1], w - at[1] - size[1]],
    [0, 0],
  ];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const window = (at: [number, number], size: [number, number]) => tf.slice(x, [0, at[0], at[1], 0], [b, size[0], size[1], c]);
    const windows = pairs.map((pair) => [window(pair.a, pair.size), window(pair.b, pair.size)]);
    const squaredSums = tf.stack(windows.map(([a, bw]) => tf.sum(tf.squaredDifference(a, bw))));
    const norms = tf.sqrt(tf.maximum(squaredSums, NORM_FLOOR));
    save([...windows.flat(), squaredSums, norms]);
    return {
      value: tf.sum(norms) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const weights = tf.unstack(flooredNormGradient(dy, saved[8], saved[9]));
        const plus: tf.Tensor[] = [];
        const minus: tf.Tensor[] = [];
        pairs.forEach((pair, k) => {
          const scaled = tf.mul(tf.sub(saved[2 * k], saved[2 * k + 1]), weights[k]);
          plus.push(tf.pad(scaled, padding(pair.a, pair.size)));
          minus.push(tf.pad(scaled, padding(pair.b, pair.size)));
        });
        return tf.sub(tf.addN(plus), tf.addN(minus));
      },
    };
  });
  return tf.tidy(() => (op as (x: tf.Tensor4D) => tf.Scalar)(images));
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
  return tf.div(tf.sum(tf.mul(target, tf.sub(logTarget, logInput))), logInput.shape[0]) as tf.Scalar;
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

/**
 * Fast-Datafree's adversarial term: minus the mean over the batch of KL(softmax(teacher/T) ||
 * softmax(student/T)) x T^2, counting only the images on which student and teacher agree (same
 * top-1 class; the other images add 0). Minimizing it seeks images the student has not learned
 * yet while leaving alone the ones it already gets wrong. The agreement mask gets no gradient.
 */
export function maskedDisagreementLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature = 20): tf.Scalar {
  return tf.tidy(() => {
    // A custom gradient's forward pass is not taped, so argMax (which has no gradient) stays off the tape.
    const agreement = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const s = args[0] as tf.Tensor;
      return { value: tf.cast(tf.equal(tf.argMax(s, -1), tf.argMax(teacherLogits, -1)), 'float32'), gradFunc: () => tf.zerosLike(s) };
    });
    const agree = agreement(studentLogits);
    const logStudent = tf.logSoftmax(tf.div(studentLogits, temperature));
    const logTeacher = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const perImage = tf.sum(tf.mul(tf.exp(logTeacher), tf.sub(logTeacher, logStudent)), -1);
    return tf.mul(tf.mean(tf.mul(perImage, agree)), -(temperature * temperature)) as tf.Scalar;
  });
}
