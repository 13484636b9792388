/**
 * Feature matrices on the host ([count, dimension], row-major) and their first two moments in
 * float64: what the Fréchet distance and precision/recall compare.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A [count, dimension] feature matrix, row-major: one row per image. */
export interface Features {
  readonly data: Float32Array | Float64Array;
  readonly count: number;
  readonly dimension: number;
}

/**
 * Anything the metrics accept as a feature matrix: a {@link Features}, a flat Float32Array /
 * Float64Array (row-major, give `dimension`), an array of rows, or a rank-2 tensor (read with
 * dataSync; not disposed).
 */
export type FeatureInput = Features | Float32Array | Float64Array | ReadonlyArray<ArrayLike<number>> | tf.Tensor;

/** Mean and unbiased covariance of a feature set, float64. */
export interface FeatureStatistics {
  /** [dimension]. */
  readonly mean: Float64Array;
  /** [dimension, dimension] row-major, divided by count - 1. */
  readonly covariance: Float64Array;
  readonly count: number;
  readonly dimension: number;
}

function isTensor(value: unknown): value is tf.Tensor {
  return value instanceof tf.Tensor || (typeof value === 'object' && value !== null && 'dataId' in value && 'rank' in value);
}

/**
 * Turns a {@link FeatureInput} into a checked {@link Features}. `what` names the argument in
 * errors; `dimension` is required for flat typed arrays and checked against the others.
 */
export function toFeatures(input: FeatureInput, what: string, dimension?: number): Features {
  let features: Features;
  if (isTensor(input)) {
    if (input.rank !== 2) {
      throw new Error(
        `${what}: a feature tensor must be rank 2 [count, dimension], got shape [${input.shape.join(', ')}]. Pool or reshape it first.`,
      );
    }
    const [count, d] = input.shape as [number, number];
    features = { data: Float32Array.from(input.dataSync()), count, dimension: d };
  } else if (input instanceof Float32Array || input instanceof Float64Array) {
    if (dimension === undefined) {
      throw new Error(`${what}: a flat ${input.constructor.name} needs options.dimension (features per row).`);
    }
    if (!Number.isSafeInteger(dimension) || dimension < 1 || input.length % dimension !== 0) {
      throw new Error(`${what}: ${input.length} values is not a whole number of rows of dimension ${dimension}.`);
    }
    features = { data: input, count: input.length / dimension, dimension };
  } else if (Array.isArray(input)) {
    const rows = input as ReadonlyArray<ArrayLike<number>>;
    const d = rows.length > 0 ? rows[0].length : 0;
    const data = new Float64Array(rows.length * d);
    rows.forEach((row, i) => {
      if (row.length !== d) throw new Error(`${what}: row ${i} has ${row.length} values but row 0 has ${d}; rows must have equal length.`);
      for (let j = 0; j < d; j++) data[i * d + j] = row[j];
    });
    features = { data, count: rows.length, dimension: d };
  } else {
    const f = input as Features;
    if (f == null || f.data == null || !Number.isSafeInteger(f.count) || !Number.isSafeInteger(f.dimension)) {
      throw new Error(
        `${what}: expected Features { data, count, dimension }, a flat Float32Array/Float64Array, an array of rows or a rank-2 tensor.`,
      );
    }
    if (f.data.length !== f.count * f.dimension) {
      throw new Error(
        `${what}: data has ${f.data.length} values but count x dimension = ${f.count} x ${f.dimension} = ${f.count * f.dimension}.`,
      );
    }
    features = f;
  }
  if (features.dimension < 1) throw new Error(`${what}: features must have at least one dimension.`);
  if (dimension !== undefined && features.dimension !== dimension) {
    throw new Error(`${what}: features have dimension ${features.dimension} but options.dimension is ${dimension}.`);
  }
  for (let i = 0; i < features.data.length; i++) {
    if (!Number.isFinite(features.data[i])) {
      const row = Math.floor(i / features.dimension);
      throw new Error(`${what}: value ${features.data[i]} at row ${row}, column ${i % features.dimension}; features must be finite.`);
    }
  }
  return features;
}

/** Options of {@link featureStatistics}. */
export interface FeatureStatisticsOptions {
  /** Features per row, required when `features` is a flat typed array. */
  readonly dimension?: number;
}

/**
 * Mean and covariance of a feature set in float64, the covariance with the unbiased estimator
 * (divided by count - 1, as numpy.cov and pytorch-fid do). Compute the statistics of a reference
 * set once and pass them to {@link frechetDistanceFromStatistics} for every comparison.
 *
 * Throws when there are fewer than 2 rows (a covariance needs two) or a value is not finite.
 */
export function featureStatistics(features: FeatureInput, options: FeatureStatisticsOptions = {}): FeatureStatistics {
  const { data, count, dimension: d } = toFeatures(features, 'featureStatistics', options.dimension);
  if (count < 2) throw new Error(`featureStatistics: an unbiased covariance needs at least 2 feature rows, got ${count}.`);
  const mean = new Float64Array(d);
  for (let r = 0; r < count; r++) for (let j = 0; j < d; j++) mean[j] += data[r * d + j];
  for (let j = 0; j < d; j++) mean[j] /= count;
  // Two passes (center, then accumulate) so large means do not cancel catastrophically.
  const covariance = new Float64Array(d * d);
  const centered = new Float64Array(d);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < d; j++) centered[j] = data[r * d + j] - mean[j];
    for (let i = 0; i < d; i++) {
      const ci = centered[i];
      if (ci === 0) continue;
      const oi = i * d;
      for (let j = i; j < d; j++) covariance[oi + j] += ci * centered[j];
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const value = covariance[i * d + j] / (count - 1);
      covariance[i * d + j] = value;
      covariance[j * d + i] = value;
    }
  }
  return { mean, covariance, count, dimension: d };
}
