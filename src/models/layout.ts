/**
 * Host-side axis permutation of plain data. Converting weight layouts here instead of with
 * tf.transpose keeps loading and exporting fast on the pure-JS cpu backend (whose generic
 * transpose takes seconds for a ResNet-34) and exact on every backend.
 */

/** `data` (row-major, `shape`) with its axes permuted: result axis k is input axis perm[k]. Rank <= 4. */
export function transposeData(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  if (rank > 4 || perm.length !== rank) throw new Error(`transposeData: rank ${rank} with perm [${perm.join(', ')}] is not supported.`);
  // Pad to rank 4 with leading unit axes so one set of four loops covers every case.
  const pad = 4 - rank;
  const s = [1, 1, 1, 1];
  const p = [0, 1, 2, 3];
  shape.forEach((d, i) => (s[pad + i] = d));
  perm.forEach((axis, k) => (p[pad + k] = pad + axis));
  const stride = [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1];
  const [n0, n1, n2, n3] = p.map((axis) => s[axis]);
  const [t0, t1, t2, t3] = p.map((axis) => stride[axis]);
  const out = new Float32Array(data.length);
  let n = 0;
  for (let a = 0; a < n0; a++) {
    for (let b = 0; b < n1; b++) {
      for (let c = 0; c < n2; c++) {
        const base = a * t0 + b * t1 + c * t2;
        for (let d = 0; d < n3; d++) out[n++] = data[base + d * t3];
      }
    }
  }
  return out;
}

/** The permutation that undoes `perm`. */
export function inversePermutation(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((axis, k) => (inverse[axis] = k));
  return inverse;
}
