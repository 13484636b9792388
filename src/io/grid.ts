/**
 * Float images -> 8-bit pixels, and the labelled image grid written for every synthesized batch.
 * Pure.
 */
import { GLYPH_HEIGHT, GLYPH_SPACING, GLYPH_WIDTH, glyph, textWidth } from './font';

/** A colour as 0..255 red, green, blue. */
export type Rgb = readonly [number, number, number];

/** Options of {@link toUint8Rgb}. */
export interface ToUint8RgbOptions {
  /** Channels per pixel of the input: 1 (grey, replicated), 3 (RGB, default) or 4 (RGBA, alpha dropped). */
  channels?: 1 | 3 | 4;
}

/** [0, 1] -> 0..255, clamped and rounded; NaN -> 0. */
function toByte(v: number): number {
  return v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
}

/**
 * Converts float pixels in [0, 1] (any leading layout, channels last) to 8-bit RGB: values are
 * clamped to [0, 1], scaled by 255 and rounded (NaN becomes 0). Feed the result to encodePng.
 */
export function toUint8Rgb(images01: Float32Array, options: ToUint8RgbOptions = {}): Uint8Array {
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new Error(`toUint8Rgb: channels must be 1, 3 or 4, got ${channels}.`);
  if (images01.length % channels !== 0) {
    throw new Error(`toUint8Rgb: ${images01.length} values is not a whole number of ${channels}-channel pixels.`);
  }
  const pixels = images01.length / channels;
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) out[3 * p + c] = toByte(images01[p * channels + (channels === 1 ? 0 : c)]);
  }
  return out;
}

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** Tiles per row. Default ceil(sqrt(count)). */
  columns?: number;
  /** Output pixels between tiles and around the border. Default 2. */
  padding?: number;
  /** One caption per image, drawn under its tile (truncated to the tile width). Default: no captions. */
  labels?: readonly string[];
  /** Integer upscaling of each image (nearest neighbour), so 32x32 images stay visible. Default 2. */
  scale?: number;
  /** Integer upscaling of the 5x7 caption font. Default 1. */
  textScale?: number;
  /** Channels per pixel of `images01`: 1 (grey) or 3 (RGB). Default 3. */
  channels?: 1 | 3;
  /** Background (padding and caption strip) colour, 0..255 RGB. Default [0, 0, 0]. */
  background?: Rgb;
  /** Caption colour, 0..255 RGB. Default [255, 255, 255]. */
  textColor?: Rgb;
}

/** An RGB image, row-major. */
export interface RgbImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

function positiveInteger(name: string, value: number, allowZero = false): number {
  if (!Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new Error(`imageGrid: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}.`);
  }
  return value;
}

/**
 * Lays out `count` NHWC images in [0, 1] as one RGB image: tiles upscaled by `scale`, row by row,
 * `padding` pixels apart, each with its caption (from `labels`) under it in a 5x7 bitmap font.
 *
 * Size: width = columns * (width * scale) + (columns + 1) * padding; height = rows * (height *
 * scale + captionHeight) + (rows + 1) * padding, where captionHeight = 10 * textScale when labels
 * are given (7-pixel glyphs with 2 pixels above and 1 below) and 0 otherwise.
 */
export function imageGrid(images01: Float32Array, count: number, height: number, width: number, options: ImageGridOptions = {}): RgbImage {
  positiveInteger('count', count);
  positiveInteger('height', height);
  positiveInteger('width', width);
  const columns = positiveInteger('columns', options.columns ?? Math.ceil(Math.sqrt(count)));
  const padding = positiveInteger('padding', options.padding ?? 2, true);
  const scale = positiveInteger('scale', options.scale ?? 2);
  const textScale = positiveInteger('textScale', options.textScale ?? 1);
  const channels = options.channels ?? 3;
  const background = options.background ?? [0, 0, 0];
  const textColor = options.textColor ?? [255, 255, 255];
  const labels = options.labels;
  if (channels !== 1 && channels !== 3) throw new Error(`imageGrid: channels must be 1 or 3, got ${channels}.`);
  if (images01.length !== count * height * width * channels) {
    throw new Error(
      `imageGrid: ${images01.length} values given but ${count} images of ${height}x${width}x${channels} need ` +
        `${count * height * width * channels}.`,
    );
  }
  if (labels !== undefined && labels.length !== count) {
    throw new Error(`imageGrid: ${labels.length} labels given for ${count} images; pass one label per image.`);
  }

  const rows = Math.ceil(count / columns);
  const tileWidth = width * scale;
  const tileHeight = height * scale;
  const captionHeight = labels !== undefined ? (GLYPH_HEIGHT + 3) * textScale : 0;
  const cellHeight = tileHeight + captionHeight;
  const gridWidth = columns * tileWidth + (columns + 1) * padding;
  const gridHeight = rows * cellHeight + (rows + 1) * padding;
  const pixels = new Uint8Array(gridWidth * gridHeight * 3);
  for (let p = 0; p < gridWidth * gridHeight; p++) pixels.set(background, 3 * p);

  const imageSize = height * width * channels;
  for (let n = 0; n < count; n++) {
    const left = padding + (n % columns) * (tileWidth + padding);
    const top = padding + Math.floor(n / columns) * (cellHeight + padding);
    for (let y = 0; y < tileHeight; y++) {
      const sourceRow = n * imageSize + Math.floor(y / scale) * width * channels;
      let out = ((top + y) * gridWidth + left) * 3;
      for (let x = 0; x < tileWidth; x++, out += 3) {
        const source = sourceRow + Math.floor(x / scale) * channels;
        for (let c = 0; c < 3; c++) pixels[out + c] = toByte(images01[source + (channels === 1 ? 0 : c)]);
      }
    }
    if (labels !== undefined) {
      drawCaption(pixels, gridWidth, labels[n], left, top + tileHeight + 2 * textScale, tileWidth, textScale, textColor);
    }
  }
  return { pixels, width: gridWidth, height: gridHeight };
}

/** Draws `text` centred in [left, left + maxWidth), truncated to whole characters that fit. */
function drawCaption(
  pixels: Uint8Array,
  gridWidth: number,
  text: string,
  left: number,
  top: number,
  maxWidth: number,
  textScale: number,
  color: Rgb,
): void {
  const fit = Math.max(0, Math.floor((maxWidth / textScale + GLYPH_SPACING) / (GLYPH_WIDTH + GLYPH_SPACING)));
  const chars = [...text].slice(0, fit);
  const start = left + Math.floor((maxWidth - textWidth(chars.join('')) * textScale) / 2);
  chars.forEach((ch, i) => {
    const g = glyph(ch);
    const x0 = start + i * (GLYPH_WIDTH + GLYPH_SPACING) * textScale;
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (!g[gy][gx]) continue;
        for (let dy = 0; dy < textScale; dy++) {
          for (let dx = 0; dx < textScale; dx++) {
            pixels.set(color, ((top + gy * textScale + dy) * gridWidth + x0 + gx * textScale + dx) * 3);
          }
        }
      }
    }
  });
}
