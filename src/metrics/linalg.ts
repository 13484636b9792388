/**
 * Dense float64 linear algebra for the metrics: symmetric eigen-decomposition and the few matrix
 * products the Fréchet distance needs. Square matrices are row-major Float64Arrays.
 * Pure; no tensors.
 */

/** Eigenvalues and (optionally) eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  /** Eigenvalues, in no particular order. */
  readonly values: Float64Array;
  /**
   * Eigenvectors as the rows of a row-major [n, n] matrix: row i belongs to values[i], so
   * A = Vᵀ diag(values) V. Absent when they were not requested.
   */
  readonly vectors?: Float64Array;
  /** QL iterations run (about 2 per eigenvalue). */
  readonly iterations: number;
}

/** Options of {@link symmetricEigen}. */
export interface SymmetricEigenOptions {
  /** Also return the eigenvectors. Default true. */
  readonly vectors?: boolean;
  /** Give up when one eigenvalue needs more QL iterations than this. Default 100 (2..3 is typical). */
  readonly maxIterations?: number;
}

/**
 * Eigen-decomposition of a symmetric [n, n] matrix in float64: Householder reduction to
 * tridiagonal form, then the implicit QL algorithm with Wilkinson-style shifts (EISPACK's tred2 and
 * tql2, as in JAMA). Eigenvalues are accurate to about machine epsilon times the matrix norm, so
 * the zero eigenvalues of a singular covariance come out as tiny numbers of either sign: clamp
 * them. O(n³): about 0.1 s at n = 256 and tens of seconds at n = 2048 in Node. `matrix` is read,
 * not changed; only its lower triangle is used.
 *
 * Throws when the size does not match, an entry is not finite, or the iteration does not converge.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number, options: SymmetricEigenOptions = {}): SymmetricEigen {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`symmetricEigen: size must be a positive integer, got ${n}.`);
  if (matrix.length !== n * n) {
    throw new Error(`symmetricEigen: a ${n}x${n} matrix has ${n * n} entries, got ${matrix.length}.`);
  }
  // t holds JAMA's V transposed (t[c * n + r] = V[r][c]), so every inner loop below walks
  // contiguous memory; its rows end up being the eigenvectors.
  const t = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c <= r; c++) {
      const value = matrix[r * n + c];
      if (!Number.isFinite(value)) throw new Error(`symmetricEigen: entry (${r}, ${c}) is ${value}; the matrix must be finite.`);
      t[c * n + r] = value;
      t[r * n + c] = value;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(t, d, e, n);
  const iterations = diagonalize(t, d, e, n, options.vectors ?? true, options.maxIterations ?? 100);
  return { values: d, vectors: options.vectors === false ? undefined : t, iterations };
}

/** Householder reduction (EISPACK tred2) on the transposed accumulator t; d, e get the tridiagonal. */
function tridiagonalize(t: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = t[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = t[j * n + i - 1];
        t[j * n + i] = 0;
        t[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        const row = j * n;
        f = d[j];
        t[i * n + j] = f;
        g = e[j] + t[row + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += t[row + k] * d[k];
          e[k] += t[row + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        const row = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) t[row + k] -= f * e[k] + g * d[k];
        d[j] = t[row + i - 1];
        t[row + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    t[i * n + n - 1] = t[i * n + i];
    t[i * n + i] = 1;
    const h = d[i + 1];
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = t[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += t[next + k] * t[row + k];
        for (let k = 0; k <= i; k++) t[row + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) t[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = t[j * n + n - 1];
    t[j * n + n - 1] = 0;
  }
  t[n * n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (EISPACK tql2); d becomes the eigenvalues. Returns the iterations. */
function diagonalize(t: Float64Array, d: Float64Array, e: Float64Array, n: number, vectors: boolean, maxIterations: number): number {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  let total = 0;
  const eps = Number.EPSILON;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iteration = 0;
      do {
        if (++iteration > maxIterations) {
          throw new Error(
            `symmetricEigen: eigenvalue ${l} did not converge in ${maxIterations} QL iterations; raise maxIterations or check the matrix.`,
          );
        }
        total++;
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (vectors) {
            const rowI = i * n;
            const rowNext = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const vk = t[rowNext + k];
              t[rowNext + k] = s * t[rowI + k] + c * vk;
              t[rowI + k] = c * t[rowI + k] - s * vk;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  return total;
}

/** The [n, n] identity. */
export function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** Row-major product of two [n, n] matrices. */
export function multiply(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[oi + k];
      if (aik === 0) continue;
      const ok = k * n;
      for (let j = 0; j < n; j++) out[oi + j] += aik * b[ok + j];
    }
  }
  return out;
}

/**
 * Square root of a symmetric positive semi-definite matrix from its eigen-decomposition:
 * Vᵀ diag(sqrt(max(λ, 0))) V. Tiny negative eigenvalues (rounding in a singular matrix) become 0.
 */
export function psdSqrt(eigen: SymmetricEigen, n: number): Float64Array {
  const v = eigen.vectors;
  if (v === undefined) throw new Error('psdSqrt needs the eigenvectors: call symmetricEigen with vectors: true.');
  // scaled = diag(sqrt λ) V, then Vᵀ scaled.
  const scaled = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const root = Math.sqrt(Math.max(eigen.values[i], 0));
    for (let j = 0; j < n; j++) scaled[i * n + j] = root * v[i * n + j];
  }
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const ok = k * n;
    for (let i = 0; i < n; i++) {
      const vki = v[ok + i];
      if (vki === 0) continue;
      const oi = i * n;
      for (let j = 0; j < n; j++) out[oi + j] += vki * scaled[ok + j];
    }
  }
  return out;
}

/** Symmetrizes in place: (M + Mᵀ) / 2, removing the rounding asymmetry of products. */
export function symmetrize(m: Float64Array, n: number): Float64Array {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const mean = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = mean;
      m[j * n + i] = mean;
    }
  }
  return m;
}
