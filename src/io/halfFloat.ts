/** 16-bit float decoding for safetensors F16 and BF16 tensors. Pure; exact in float32. */

/** IEEE 754 binary16 bits -> number (subnormals, infinities and NaN included). */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

// bfloat16 is the top half of a float32: widen through a shared scratch word.
const scratch = new DataView(new ArrayBuffer(4));

/** bfloat16 bits -> number. */
export function bfloat16ToNumber(bits: number): number {
  scratch.setUint32(0, (bits & 0xffff) << 16);
  return scratch.getFloat32(0);
}
