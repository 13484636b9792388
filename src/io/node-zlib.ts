/** Node's zlib as natinv's codec (Node only): compressed PNGs, any zlib stream, gzip. */
import * as zlib from 'zlib';
import type { ZlibCodec } from './zlib';

/** A plain Uint8Array over a Buffer's bytes, without copying. */
function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export const nodeZlib: ZlibCodec = {
  deflate: (data) => view(zlib.deflateSync(data)),
  inflate: (data) => view(zlib.inflateSync(data)),
};

/** gzip (RFC 1952) decompression. */
export function gunzip(data: Uint8Array): Uint8Array {
  return view(zlib.gunzipSync(data));
}
