/**
 * Fréchet distance, feature statistics and the symmetric eigen-solver, on the host in float64.
 * Non-diagonal expectations were computed with numpy/scipy from the same closed-form data
 * (`fixture` below is `sin(0.37 (i+1)(j+1) + a) + 0.5 cos(1.1 i + 0.3 j² + a)(1 + j mod 3) + 0.1 j`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { featureStatistics, frechetDistance, frechetDistanceTerms } from '../src/metrics';
import { symmetricEigen } from '../src/metrics/linalg';
import { Random } from '../src/util/random';

/** Row-major [n, d] data from a formula numpy reproduces exactly (up to the last ulp of sin/cos). */
function fixture(n: number, d: number, a: number, shift = 0): Float64Array {
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      x[i * d + j] =
        Math.sin(0.37 * (i + 1) * (j + 1) + a) + 0.5 * Math.cos(1.1 * i + 0.3 * j * j + a) * (1 + (j % 3)) + 0.1 * j + shift * (j % 2);
    }
  }
  return x;
}

function gaussian(n: number, d: number, seed: number, scale = 1): Float64Array {
  const random = new Random(seed);
  const x = new Float64Array(n * d);
  for (let i = 0; i < x.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random.next()));
    const t = 2 * Math.PI * random.next();
    x[i] = scale * r * Math.cos(t);
    if (i + 1 < x.length) x[i + 1] = scale * r * Math.sin(t);
  }
  return x;
}

/** Sylvester Hadamard entry: columns j > 0 are orthogonal, zero-mean ±1 vectors. */
const hadamard = (i: number, j: number): number => {
  let bits = i & j;
  let parity = 0;
  while (bits > 0) {
    parity ^= bits & 1;
    bits >>= 1;
  }
  return parity === 0 ? 1 : -1;
};

/** n = 2^k rows whose sample mean is `mean` and unbiased covariance exactly diag(variance). */
function exactDiagonal(n: number, mean: number[], variance: number[]): Float64Array {
  const d = mean.length;
  const x = new Float64Array(n * d);
  const spread = variance.map((v) => Math.sqrt((v * (n - 1)) / n));
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = mean[j] + spread[j] * hadamard(i, j + 1);
  return x;
}

describe('featureStatistics', () => {
  test('mean and unbiased covariance', () => {
    const stats = featureStatistics([
      [1, 2],
      [3, 6],
      [5, 4],
    ]);
    expect(Array.from(stats.mean)).toEqual([3, 4]);
    // numpy.cov: [[4, 2], [2, 4]]
    expect(Array.from(stats.covariance)).toEqual([4, 2, 2, 4]);
  });

  test('accepts flat arrays with a dimension, tensors and Features alike', () => {
    const flat = new Float32Array([1, 2, 3, 6, 5, 4]);
    const fromFlat = featureStatistics(flat, { dimension: 2 });
    const tensor = tf.tensor2d(flat, [3, 2]);
    const fromTensor = featureStatistics(tensor);
    tensor.dispose();
    const fromFeatures = featureStatistics({ data: flat, count: 3, dimension: 2 });
    expect(Array.from(fromTensor.covariance)).toEqual(Array.from(fromFlat.covariance));
    expect(Array.from(fromFeatures.mean)).toEqual(Array.from(fromFlat.mean));
  });

  test('clear errors', () => {
    expect(() => featureStatistics(new Float32Array(6))).toThrow(/options.dimension/);
    expect(() => featureStatistics(new Float32Array(7), { dimension: 2 })).toThrow(/whole number of rows/);
    expect(() => featureStatistics([[1, 2]])).toThrow(/at least 2/);
    expect(() => featureStatistics([[1, 2], [3]])).toThrow(/row 1 has 1 values/);
    expect(() =>
      featureStatistics([
        [1, NaN],
        [3, 4],
      ]),
    ).toThrow(/row 0, column 1/);
  });
});

describe('symmetricEigen', () => {
  test('eigenvalues match numpy.linalg.eigvalsh; vectors are orthonormal and reconstruct the matrix', () => {
    const d = 8;
    const { covariance } = featureStatistics(fixture(20, d, 0.3), { dimension: d });
    const { values, vectors } = symmetricEigen(covariance, d);
    const numpy = [
      0.26111391224484654, 0.4469178795907348, 0.4496236896447383, 0.5203298746928305, 0.5886420952677996, 0.6285363826213952,
      1.9166762260081547, 3.6461375498945006,
    ];
    const sorted = Array.from(values).sort((a, b) => a - b);
    sorted.forEach((v, i) => expect(Math.abs(v - numpy[i])).toBeLessThan(1e-13));
    const v = vectors as Float64Array;
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) {
        let rebuilt = 0;
        let dot = 0;
        for (let k = 0; k < d; k++) {
          rebuilt += values[k] * v[k * d + r] * v[k * d + c];
          dot += v[r * d + k] * v[c * d + k];
        }
        expect(Math.abs(rebuilt - covariance[r * d + c])).toBeLessThan(1e-13);
        expect(Math.abs(dot - (r === c ? 1 : 0))).toBeLessThan(1e-13);
      }
    }
  });

  test('handles diagonal, zero and rank-deficient matrices', () => {
    expect(Array.from(symmetricEigen([3, 0, 0, 5], 2).values).sort()).toEqual([3, 5]);
    expect(Array.from(symmetricEigen(new Float64Array(9), 3).values)).toEqual([0, 0, 0]);
    // [1 1; 1 1] has eigenvalues 0 and 2.
    const values = Array.from(symmetricEigen([1, 1, 1, 1], 2).values).sort((a, b) => a - b);
    expect(Math.abs(values[0])).toBeLessThan(1e-15);
    expect(values[1]).toBeCloseTo(2, 14);
  });

  test('rejects wrong sizes and non-finite entries', () => {
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/2x2 matrix has 4 entries, got 3/);
    expect(() => symmetricEigen([1, Infinity, Infinity, 1], 2)).toThrow(/must be finite/);
  });
});

describe('frechetDistance', () => {
  test('a set against itself is ~0', () => {
    const a = gaussian(200, 16, 1);
    expect(frechetDistance(a, a, { dimension: 16 })).toBeLessThan(1e-9);
  });

  test('matches the closed form for diagonal covariances', () => {
    const mu1 = [0, 1, -2, 0.5, 3, 0, 0];
    const mu2 = [1, 1, 0, -0.5, 3, 2, 0.1];
    const s1 = [1, 4, 0.25, 2, 9, 1e-4, 1];
    const s2 = [2, 1, 0.25, 8, 1, 1, 1e-6];
    const a = exactDiagonal(8, mu1, s1);
    const b = exactDiagonal(16, mu2, s2);
    let expected = 0;
    for (let j = 0; j < mu1.length; j++) expected += (mu1[j] - mu2[j]) ** 2 + (Math.sqrt(s1[j]) - Math.sqrt(s2[j])) ** 2;
    const stats = featureStatistics(a, { dimension: 7 });
    expect(
      Array.from(stats.covariance.filter((_, i) => i % 8 === 0))
        .map((v, j) => v - s1[j])
        .every((e) => Math.abs(e) < 1e-12),
    ).toBe(true);
    expect(Math.abs(frechetDistance(a, b, { dimension: 7 }) - expected)).toBeLessThan(1e-10 * expected);
  });

  test('matches numpy/scipy on non-diagonal data', () => {
    // numpy: eigh formulation; scipy.linalg.sqrtm (pytorch-fid's way) agrees to 2e-11 relative.
    const small = frechetDistance(fixture(60, 6, 0), fixture(45, 6, 1.7, 0.25), { dimension: 6 });
    expect(Math.abs(small - 0.22946875611379774)).toBeLessThan(1e-11);
    const large = frechetDistance(fixture(300, 64, 0), fixture(250, 64, 0.5, 0.25), { dimension: 64 });
    expect(Math.abs(large - 4.746478078497543)).toBeLessThan(1e-9 * 4.75);
  });

  test('singular covariances (fewer samples than dimensions) stay finite, non-negative and right', () => {
    const a = fixture(10, 32, 0);
    const b = fixture(12, 32, 2, 0.25);
    const fd = frechetDistance(a, b, { dimension: 32 });
    expect(Number.isFinite(fd)).toBe(true);
    // numpy's eigh formulation. The zero eigenvalues come out as ±eps·|S|, whose square roots
    // (~1e-8 each) bound the agreement of any two implementations; scipy's sqrtm is 8e-7 off.
    expect(Math.abs(fd - 23.041667543133414)).toBeLessThan(2e-6);
    const self = frechetDistanceTerms(featureStatistics(a, { dimension: 32 }), featureStatistics(a, { dimension: 32 }));
    expect(self.distance).toBeGreaterThanOrEqual(0);
    expect(self.distance).toBeLessThan(1e-6);
    // Two samples in 64 dimensions: rank-1 covariances.
    const tiny = frechetDistance(gaussian(2, 64, 3), gaussian(2, 64, 4), { dimension: 64 });
    expect(Number.isFinite(tiny) && tiny >= 0).toBe(true);
  });

  test('terms split the distance into mean and covariance parts', () => {
    const a = exactDiagonal(8, [0, 0], [1, 1]);
    const b = exactDiagonal(8, [3, 4], [1, 1]);
    const terms = frechetDistanceTerms(featureStatistics(a, { dimension: 2 }), featureStatistics(b, { dimension: 2 }));
    expect(terms.meanTerm).toBeCloseTo(25, 12);
    expect(terms.covarianceTerm).toBeLessThan(1e-12);
  });

  test('rejects sets of different dimensions', () => {
    expect(() => frechetDistance(gaussian(10, 4, 1), gaussian(10, 6, 2).subarray(0, 60), { dimension: 4 })).not.toThrow();
    expect(() =>
      frechetDistance(
        [
          [1, 2],
          [2, 3],
        ],
        [
          [1, 2, 3],
          [3, 4, 5],
        ],
      ),
    ).toThrow(/different dimensions \(2 and 3\)/);
  });
});
