/**
 * Minimal PNG encode/decode for 8-bit RGB and RGBA images (what natinv writes and reads back).
 * Pure: the zlib stream comes from a codec, by default the platform-neutral one (stored blocks);
 * natinv/node's encodePng and decodePng pass Node's zlib.
 */
import { CompressedStreamError, storedZlib, ZlibCodec } from './zlib';

/** Options of {@link encodePng} and {@link decodePng}. */
export interface PngCodecOptions {
  /**
   * The zlib codec of the image data. Default: uncompressed stored blocks in plain JavaScript
   * (valid PNGs any reader opens, as large as the raw pixels; decodes only such PNGs). The
   * encodePng and decodePng of `natinv/node` default to Node's zlib instead.
   */
  zlib?: ZlibCodec;
}

/** A decoded PNG. */
export interface DecodedPng {
  /** Row-major, `channels` bytes per pixel. */
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const COLOR_TYPE: Record<3 | 4, number> = { 3: 2, 4: 6 };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG chunks use) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function checkDimensions(what: string, width: number, height: number): void {
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1 || value > 0x7fffffff) {
      throw new Error(`${what}: ${name} must be a positive integer, got ${value}.`);
    }
  }
}

/**
 * Encodes 8-bit RGB (`channels` 3) or RGBA (4) pixels, row-major, as a PNG file: filter 0 on
 * every row, one IDAT chunk, no interlacing.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4, options: PngCodecOptions = {}): Uint8Array {
  checkDimensions('encodePng', width, height);
  if (channels !== 3 && channels !== 4) throw new Error(`encodePng: channels must be 3 (RGB) or 4 (RGBA), got ${channels}.`);
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new Error(`encodePng: ${pixels.length} bytes given but ${width}x${height}x${channels} needs ${stride * height}.`);
  }
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    // raw[y * (stride + 1)] stays 0: filter type None.
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, COLOR_TYPE[channels], 0, 0, 0], 8); // bit depth, colour type, compression, filter, interlace
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', (options.zlib ?? storedZlib).deflate(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(SIGNATURE.length + chunks.reduce((n, c) => n + c.length, 0));
  out.set(SIGNATURE, 0);
  let offset = SIGNATURE.length;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** length + type + data + CRC(type + data). */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Decodes an 8-bit RGB or RGBA, non-interlaced PNG (any of the five row filters), verifying chunk
 * CRCs. Other bit depths, colour types (grey, palette) and interlacing are rejected with an error
 * saying which; re-save such images as 8-bit RGB(A).
 */
export function decodePng(bytes: Uint8Array, options: PngCodecOptions = {}): DecodedPng {
  const fail = (message: string): never => {
    throw new Error(`decodePng: ${message}`);
  };
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    fail('the data does not start with the PNG signature; it is not a PNG file.');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = SIGNATURE.length;
  let header: { width: number; height: number; channels: 3 | 4 } | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (!ended) {
    if (offset + 12 > bytes.length) fail(`the file ends inside a chunk header at byte ${offset}; it is truncated.`);
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (offset + 12 + length > bytes.length) fail(`chunk ${type} at byte ${offset} runs past the end of the file; it is truncated.`);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== view.getUint32(offset + 8 + length)) {
      fail(`chunk ${type} at byte ${offset} has a bad CRC; the file is corrupt.`);
    }
    if (header === undefined && type !== 'IHDR') fail(`the first chunk is ${type}, not IHDR.`);
    if (type === 'IHDR') {
      if (length !== 13) fail(`IHDR has ${length} bytes, not 13.`);
      const h = new DataView(data.buffer, data.byteOffset, 13);
      const [depth, colorType, compression, filter, interlace] = data.subarray(8, 13);
      if (depth !== 8) fail(`bit depth ${depth} is not supported; only 8-bit RGB/RGBA PNGs are.`);
      if (colorType !== 2 && colorType !== 6) {
        fail(`colour type ${colorType} is not supported; only RGB (2) and RGBA (6) are (not grey or palette).`);
      }
      if (compression !== 0 || filter !== 0) fail(`compression method ${compression} / filter method ${filter} is not 0.`);
      if (interlace !== 0) fail('interlaced (Adam7) PNGs are not supported; re-save without interlacing.');
      header = { width: h.getUint32(0), height: h.getUint32(4), channels: colorType === 2 ? 3 : 4 };
      if (header.width === 0 || header.height === 0) fail(`image size ${header.width}x${header.height} is empty.`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
    } else if (type !== 'PLTE' && (bytes[offset + 4] & 0x20) === 0) {
      // Uppercase first letter = critical chunk; one we do not understand cannot be skipped.
      fail(`unknown critical chunk ${type}.`);
    }
    offset += 12 + length;
  }
  if (idat.length === 0) fail('no IDAT chunk: the file has no image data.');
  const { width, height, channels } = header!;

  const compressed = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  let at = 0;
  for (const d of idat) {
    compressed.set(d, at);
    at += d.length;
  }
  let raw: Uint8Array;
  try {
    raw = (options.zlib ?? storedZlib).inflate(compressed);
  } catch (cause) {
    if (cause instanceof CompressedStreamError) return fail(cause.message);
    return fail(`the image data does not inflate (${(cause as Error).message}); the file is corrupt.`);
  }
  const stride = width * channels;
  if (raw.length < (stride + 1) * height) {
    fail(`the image data has ${raw.length} bytes, fewer than the ${(stride + 1) * height} that ${width}x${height} needs.`);
  }
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filterType = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    const up = out - stride; // previous row in `pixels` (already reconstructed)
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[out + i - channels] : 0;
      const b = y > 0 ? pixels[up + i] : 0;
      let value: number;
      switch (filterType) {
        case 0:
          value = line[i];
          break;
        case 1:
          value = line[i] + a;
          break;
        case 2:
          value = line[i] + b;
          break;
        case 3:
          value = line[i] + ((a + b) >> 1);
          break;
        case 4: {
          const c = y > 0 && i >= channels ? pixels[up + i - channels] : 0;
          value = line[i] + paeth(a, b, c);
          break;
        }
        default:
          return fail(`row ${y} has filter type ${filterType}; valid types are 0..4. The file is corrupt.`);
      }
      pixels[out + i] = value & 0xff;
    }
  }
  return { pixels, width, height, channels };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}
