/**
 * The only place natinv's io touches Node's zlib, so png.ts and grid.ts stay pure apart from
 * these three calls (a browser build can swap this file for a pure-JS inflate/deflate).
 */
import * as zlib from 'zlib';

/** zlib-wrapped deflate (RFC 1950), as PNG's IDAT stream needs. */
export function zlibDeflate(data: Uint8Array): Uint8Array {
  return view(zlib.deflateSync(data));
}

/** Inverse of {@link zlibDeflate}. */
export function zlibInflate(data: Uint8Array): Uint8Array {
  return view(zlib.inflateSync(data));
}

/** gzip (RFC 1952) decompression. */
export function gunzip(data: Uint8Array): Uint8Array {
  return view(zlib.gunzipSync(data));
}

/** A plain Uint8Array over a Buffer's bytes, without copying. */
function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
