/**
 * Fréchet distance between two feature sets modelled as Gaussians (FID when the features come
 * from Inception; here usually a verifier's pooled last-stage features), in float64.
 */
import { FeatureInput, featureStatistics, FeatureStatistics } from './features';
import { multiply, psdSqrt, symmetricEigen, symmetrize } from './linalg';

/** Options of {@link frechetDistance}. */
export interface FrechetDistanceOptions {
  /** Features per row, required when the inputs are flat typed arrays. */
  readonly dimension?: number;
}

/** The two parts of a Fréchet distance. */
export interface FrechetDistanceTerms {
  /** meanTerm + covarianceTerm, never negative. */
  readonly distance: number;
  /** |mu1 - mu2|². */
  readonly meanTerm: number;
  /** Tr(S1 + S2 - 2 sqrt(S1 S2)), clamped at 0 (rounding can take it a hair below). */
  readonly covarianceTerm: number;
}

/**
 * The Fréchet distance split into its mean and covariance parts. Tr(sqrt(S1 S2)) is computed as
 * Tr(sqrt(sqrt(S1) S2 sqrt(S1))): that matrix is symmetric positive semi-definite with the same
 * eigenvalues as S1 S2, so two symmetric eigen-decompositions give it without complex numbers,
 * and tiny negative eigenvalues of singular covariances (fewer samples than dimensions) are
 * clamped to 0 instead of producing NaN.
 */
export function frechetDistanceTerms(first: FeatureStatistics, second: FeatureStatistics): FrechetDistanceTerms {
  const d = first.dimension;
  if (second.dimension !== d) {
    throw new Error(
      `frechetDistance: the feature sets have different dimensions (${d} and ${second.dimension}); embed both with the same layer.`,
    );
  }
  if (first.mean.length !== d || first.covariance.length !== d * d || second.mean.length !== d || second.covariance.length !== d * d) {
    throw new Error(`frechetDistance: statistics must hold a mean of ${d} values and a ${d}x${d} covariance; use featureStatistics().`);
  }
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (first.mean[j] - second.mean[j]) ** 2;

  const root1 = psdSqrt(symmetricEigen(first.covariance, d), d);
  const middle = symmetrize(multiply(multiply(root1, second.covariance, d), root1, d), d);
  const { values } = symmetricEigen(middle, d, { vectors: false });
  let traceSqrt = 0;
  for (const value of values) traceSqrt += Math.sqrt(Math.max(value, 0));
  let traces = 0;
  for (let j = 0; j < d; j++) traces += first.covariance[j * d + j] + second.covariance[j * d + j];
  const covarianceTerm = Math.max(traces - 2 * traceSqrt, 0);
  return { distance: meanTerm + covarianceTerm, meanTerm, covarianceTerm };
}

/** The Fréchet distance between two sets given by their {@link featureStatistics}. */
export function frechetDistanceFromStatistics(first: FeatureStatistics, second: FeatureStatistics): number {
  return frechetDistanceTerms(first, second).distance;
}

/**
 * Fréchet distance between feature sets `a` [n, d] and `b` [m, d]:
 * |mu_a - mu_b|² + Tr(S_a + S_b - 2 sqrt(S_a S_b)), with unbiased covariances, in float64 on the
 * host. Stable for singular covariances (n or m below d): the result stays finite and >= 0.
 * Note that the distance is biased upward for small sets: compare numbers computed with the same
 * set sizes.
 *
 * @example
 * const real = await embedFeatures(verifier, realImages, { layer: 'layer3.8' });
 * const fake = await embedFeatures(verifier, synthesized, { layer: 'layer3.8' });
 * const fd = frechetDistance(real, fake);
 */
export function frechetDistance(a: FeatureInput, b: FeatureInput, options: FrechetDistanceOptions = {}): number {
  const first = featureStatistics(a, { dimension: options.dimension });
  const second = featureStatistics(b, { dimension: options.dimension });
  return frechetDistanceFromStatistics(first, second);
}
