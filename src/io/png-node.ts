/** encodePng and decodePng with Node's zlib by default (Node only): compressed files, any PNG. */
import { nodeZlib } from './node-zlib';
import { decodePng as decodeWith, DecodedPng, encodePng as encodeWith, PngCodecOptions } from './png';

/** {@link encodePng} of the platform-neutral entry, compressing with Node's zlib unless told otherwise. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4, options: PngCodecOptions = {}): Uint8Array {
  return encodeWith(pixels, width, height, channels, { zlib: nodeZlib, ...options });
}

/** {@link decodePng} of the platform-neutral entry, reading any PNG zlib stream with Node's zlib. */
export function decodePng(bytes: Uint8Array, options: PngCodecOptions = {}): DecodedPng {
  return decodeWith(bytes, { zlib: nodeZlib, ...options });
}
