/**
 * A line chart as a PNG (accuracy against time, one line per run), drawn with the bitmap font of
 * the image grids: no canvas or plotting package needed, in Node or a browser.
 */
import { glyph, GLYPH_HEIGHT, GLYPH_SPACING, GLYPH_WIDTH, textWidth } from './font';
import type { Rgb } from './grid';
import { encodePng } from './png';
import type { ZlibCodec } from './zlib';

/** One line of the chart. */
export interface ChartSeries {
  readonly name: string;
  /** [x, y] points, in x order. */
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** Default: a colour from the palette, by position. */
  readonly color?: Rgb;
}

/** Options of {@link lineChartPng}. */
export interface LineChartOptions {
  /** The PNG's zlib codec (see encodePng). Default: stored blocks; pass natinv/node's `nodeZlib` to compress. */
  readonly zlib?: ZlibCodec;
  readonly title?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Axis ranges. Default: 0 to the largest value. */
  readonly xMax?: number;
  readonly yMax?: number;
  /** Pixels. Default 640 x 400. */
  readonly width?: number;
  readonly height?: number;
}

const PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
];
const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];

class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, color: Rgb): void {
    const px = Math.round(x);
    const py = Math.round(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return;
    this.pixels.set(color, (py * this.width + px) * 3);
  }

  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dx = 0; dx < thickness; dx++) for (let dy = 0; dy < thickness; dy++) this.set(x + dx, y + dy, color);
    }
  }

  text(x: number, y: number, text: string, color: Rgb = INK): void {
    let at = x;
    for (const ch of text) {
      glyph(ch).forEach((row, gy) => row.forEach((ink, gx) => ink && this.set(at + gx, y + gy, color)));
      at += GLYPH_WIDTH + GLYPH_SPACING;
    }
  }
}

/** A step for about five ticks over [0, max]: 1, 2 or 5 times a power of ten. */
function tickStep(max: number): number {
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) as number;
}

function label(value: number): string {
  return Number(value.toPrecision(6)).toString();
}

/** Draws the series as lines (and dots at the points) with axes, ticks and a legend; returns PNG bytes. */
export function lineChartPng(series: readonly ChartSeries[], options: LineChartOptions): Uint8Array {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const all = series.flatMap((s) => s.points);
  const xMax = options.xMax ?? Math.max(1e-9, ...all.map(([x]) => x));
  const yMax = options.yMax ?? Math.max(1e-9, ...all.map(([, y]) => y));
  const canvas = new Canvas(width, height);
  const left = 56;
  const right = width - 16;
  const top = options.title == null ? 16 : 30;
  const bottom = height - 40;
  const toX = (x: number) => left + ((right - left) * x) / xMax;
  const toY = (y: number) => bottom - ((bottom - top) * y) / yMax;

  if (options.title != null) canvas.text((width - textWidth(options.title)) / 2, 10, options.title);
  const xStep = tickStep(xMax);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    canvas.line(toX(x), top, toX(x), bottom, GRID);
    canvas.text(toX(x) - textWidth(label(x)) / 2, bottom + 6, label(x));
  }
  const yStep = tickStep(yMax);
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    canvas.line(left, toY(y), right, toY(y), GRID);
    canvas.text(left - 6 - textWidth(label(y)), toY(y) - GLYPH_HEIGHT / 2, label(y));
  }
  canvas.line(left, top, left, bottom, INK);
  canvas.line(left, bottom, right, bottom, INK);
  canvas.text((left + right - textWidth(options.xLabel)) / 2, height - 14, options.xLabel);
  canvas.text(4, top - 12 < 0 ? 2 : top - 12, options.yLabel);

  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    s.points.forEach(([x, y], i) => {
      if (i > 0) {
        const [px, py] = s.points[i - 1];
        canvas.line(toX(px), toY(py), toX(x), toY(y), color, 2);
      }
      for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) canvas.set(toX(x) + dx, toY(y) + dy, color);
    });
    const ly = top + 6 + k * (GLYPH_HEIGHT + 6);
    canvas.line(left + 10, ly + 3, left + 24, ly + 3, color, 2);
    canvas.text(left + 30, ly, s.name);
  });
  return encodePng(canvas.pixels, width, height, 3, { zlib: options.zlib });
}
