/** Sample statistics for the sources' initialization tests. */
export interface Stats {
  n: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

export function stats(values: ArrayLike<number>): Stats {
  const n = values.length;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    sum += values[i];
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i] - mean) ** 2;
  return { n, mean, std: Math.sqrt(sq / (n - 1)), min, max };
}

/**
 * Checks a sample against N(mean, std^2) with 5 standard errors of slack: SE(mean) = std/sqrt(n),
 * SE(std) ~ std/sqrt(2n) for a normal sample. The chance of a false failure is below 1e-6 per check.
 */
export function expectNormal(values: ArrayLike<number>, mean: number, std: number): void {
  const s = stats(values);
  expect(Math.abs(s.mean - mean)).toBeLessThan((5 * std) / Math.sqrt(s.n));
  expect(Math.abs(s.std - std)).toBeLessThan((5 * std) / Math.sqrt(2 * s.n));
}

/**
 * Checks a sample against U(-bound, bound): every value inside, std = bound/sqrt(3) within
 * 5 SE (SE(std)/std = sqrt((kurtosis - 1) / (4n)) with kurtosis 9/5 for a uniform), mean within
 * 5 SE, and both ends reached to within a few expected gaps (bound * 20 / n).
 */
export function expectUniform(values: ArrayLike<number>, bound: number): void {
  const s = stats(values);
  const std = bound / Math.sqrt(3);
  expect(s.min).toBeGreaterThanOrEqual(-bound);
  expect(s.max).toBeLessThanOrEqual(bound);
  expect(Math.abs(s.mean)).toBeLessThan((5 * std) / Math.sqrt(s.n));
  expect(Math.abs(s.std - std)).toBeLessThan(5 * std * Math.sqrt(0.8 / (4 * s.n)));
  const gap = Math.min(1, 20 / s.n) * 2 * bound;
  expect(s.max).toBeGreaterThan(bound - gap);
  expect(s.min).toBeLessThan(-bound + gap);
}

/** Asserts two arrays are bitwise equal (fast for large arrays, unlike toEqual on typed arrays). */
export function expectIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  let firstDiff = -1;
  for (let i = 0; i < actual.length && firstDiff < 0; i++) if (!Object.is(actual[i], expected[i])) firstDiff = i;
  if (firstDiff >= 0) throw new Error(`arrays differ at index ${firstDiff}: ${actual[firstDiff]} vs ${expected[firstDiff]}`);
}
