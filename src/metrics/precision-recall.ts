/**
 * Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019): each set's manifold is the
 * union of balls around its samples reaching their k-th nearest neighbour.
 */
import { FeatureInput, Features, toFeatures } from './features';

/** Options of {@link precisionRecall}. */
export interface PrecisionRecallOptions {
  /** Neighbour whose distance sets each sample's ball radius. Default 3 (the paper's). */
  readonly k?: number;
  /** Features per row, required when the inputs are flat typed arrays. */
  readonly dimension?: number;
}

/** Precision and recall of a generated set against a real one, each in [0, 1]. */
export interface PrecisionRecall {
  /** Fraction of fake samples inside the real manifold (fidelity). */
  readonly precision: number;
  /** Fraction of real samples inside the fake manifold (coverage). */
  readonly recall: number;
}

/** Squared Euclidean distance between row i of a and row j of b. */
function squaredDistance(a: Features, i: number, b: Features, j: number): number {
  const d = a.dimension;
  const oa = i * d;
  const ob = j * d;
  let sum = 0;
  for (let c = 0; c < d; c++) {
    const diff = a.data[oa + c] - b.data[ob + c];
    sum += diff * diff;
  }
  return sum;
}

/** Squared distance of every row to its k-th nearest other row (the ball radii, squared). */
function kthNeighbourRadii(set: Features, k: number): Float64Array {
  const radii = new Float64Array(set.count);
  const nearest = new Float64Array(k); // the k smallest so far, ascending
  for (let i = 0; i < set.count; i++) {
    nearest.fill(Infinity);
    for (let j = 0; j < set.count; j++) {
      if (j === i) continue;
      const distance = squaredDistance(set, i, set, j);
      if (distance >= nearest[k - 1]) continue;
      let at = k - 1;
      while (at > 0 && nearest[at - 1] > distance) {
        nearest[at] = nearest[at - 1];
        at--;
      }
      nearest[at] = distance;
    }
    radii[i] = nearest[k - 1];
  }
  return radii;
}

/** Fraction of `queries` rows inside at least one ball (centre row of `manifold`, squared radius). */
function coverage(queries: Features, manifold: Features, radii: Float64Array): number {
  let inside = 0;
  for (let q = 0; q < queries.count; q++) {
    for (let m = 0; m < manifold.count; m++) {
      if (squaredDistance(queries, q, manifold, m) <= radii[m]) {
        inside++;
        break;
      }
    }
  }
  return inside / queries.count;
}

/**
 * Improved precision and recall of `fake` against `real` features ([n, d] and [m, d], e.g. from
 * {@link embedFeatures}), in float64 on the host. Precision: the fraction of fake samples within
 * the k-NN radius of at least one real sample; recall: the fraction of real samples within the
 * k-NN radius of at least one fake sample (radii measured inside each set, a sample not counting
 * as its own neighbour). O((n + m)² d): fine for a few thousand samples.
 *
 * Throws when either set has k samples or fewer, or the dimensions differ.
 */
export function precisionRecall(real: FeatureInput, fake: FeatureInput, options: PrecisionRecallOptions = {}): PrecisionRecall {
  const k = options.k ?? 3;
  if (!Number.isSafeInteger(k) || k < 1) throw new Error(`precisionRecall: k must be a positive integer, got ${k}.`);
  const realSet = toFeatures(real, 'precisionRecall (real)', options.dimension);
  const fakeSet = toFeatures(fake, 'precisionRecall (fake)', options.dimension);
  if (realSet.dimension !== fakeSet.dimension) {
    throw new Error(
      `precisionRecall: real features have dimension ${realSet.dimension} but fake ones ${fakeSet.dimension}; embed both with the same layer.`,
    );
  }
  for (const [name, set] of [
    ['real', realSet],
    ['fake', fakeSet],
  ] as const) {
    if (set.count <= k) {
      throw new Error(
        `precisionRecall: the ${name} set has ${set.count} samples; the k-NN radius needs more than k = ${k}. Use more samples or a smaller k.`,
      );
    }
  }
  return {
    precision: coverage(fakeSet, realSet, kthNeighbourRadii(realSet, k)),
    recall: coverage(realSet, fakeSet, kthNeighbourRadii(fakeSet, k)),
  };
}
