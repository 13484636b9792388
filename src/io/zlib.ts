/**
 * zlib streams (RFC 1950) in plain JavaScript, for the platform-neutral entry: deflate as stored
 * (uncompressed) blocks, and inflate of stored blocks. Valid streams every decoder reads, at the
 * size of the raw data. natinv/node swaps in Node's zlib (node-zlib.ts), which compresses and
 * reads any stream.
 */

/** Compresses bytes into a zlib stream, or reads one back; what PNG's IDAT needs. */
export interface ZlibCodec {
  deflate(data: Uint8Array): Uint8Array;
  inflate(data: Uint8Array): Uint8Array;
}

/** Thrown by {@link storedZlib}'s inflate for a stream compressed with Huffman codes. */
export class CompressedStreamError extends Error {}

const MAX_STORED_BLOCK = 0xffff;

/** Adler-32 checksum (RFC 1950) of `data`. */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  // 5552 bytes is the most that can be summed before b can overflow 2^32 (zlib's NMAX).
  for (let start = 0; start < data.length; start += 5552) {
    const end = Math.min(start + 5552, data.length);
    for (let i = start; i < end; i++) {
      a += data[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function storedDeflate(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / MAX_STORED_BLOCK));
  const out = new Uint8Array(2 + blocks * 5 + data.length + 4);
  const view = new DataView(out.buffer);
  out[0] = 0x78; // deflate, 32 KiB window
  out[1] = 0x01; // no dictionary, "fastest" level; (0x78 * 256 + 0x01) % 31 === 0
  let at = 2;
  for (let block = 0; block < blocks; block++) {
    const start = block * MAX_STORED_BLOCK;
    const length = Math.min(MAX_STORED_BLOCK, data.length - start);
    out[at] = block === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00 (stored)
    view.setUint16(at + 1, length, true);
    view.setUint16(at + 3, ~length & 0xffff, true);
    out.set(data.subarray(start, start + length), at + 5);
    at += 5 + length;
  }
  view.setUint32(at, adler32(data));
  return out;
}

function storedInflate(stream: Uint8Array): Uint8Array {
  const fail = (message: string): never => {
    throw new Error(`zlib stream: ${message}`);
  };
  if (stream.length < 6) fail(`${stream.length} bytes are too few for a zlib stream.`);
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  if ((stream[0] & 0x0f) !== 8 || view.getUint16(0) % 31 !== 0) fail('the header is not a deflate zlib header.');
  if ((stream[1] & 0x20) !== 0) fail('a preset dictionary is required, which PNG never uses.');
  const parts: Uint8Array[] = [];
  let at = 2;
  let final = false;
  while (!final) {
    if (at >= stream.length) fail('the stream ends before its final block.');
    final = (stream[at] & 1) === 1;
    if (((stream[at] >> 1) & 3) !== 0) {
      throw new CompressedStreamError(
        'the stream is compressed (Huffman-coded blocks), and the platform-neutral decoder reads stored blocks only ' +
          "(what natinv's own encoder writes without Node). Import from 'natinv/node', or pass a decoder such as " +
          "fflate's unzlibSync as { inflate }.",
      );
    }
    if (at + 5 > stream.length) fail('a stored block header runs past the end.');
    const length = view.getUint16(at + 1, true);
    if ((length ^ view.getUint16(at + 3, true)) !== 0xffff) fail('a stored block length does not match its complement.');
    if (at + 5 + length > stream.length) fail('a stored block runs past the end.');
    parts.push(stream.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  if (at + 4 > stream.length) fail('the Adler-32 checksum is missing.');
  if (view.getUint32(at) !== adler32(out)) fail('the Adler-32 checksum does not match; the data is corrupt.');
  return out;
}

/** The platform-neutral codec: stored blocks only (no compression), pure JavaScript. */
export const storedZlib: ZlibCodec = { deflate: storedDeflate, inflate: storedInflate };
