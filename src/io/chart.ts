/**
 * Line charts as PNGs (accuracy against time, one line per run; or panels side by side), drawn
 * with the bitmap font of the image grids: no canvas or plotting package needed, in Node or a
 * browser. natinv's commands and benches draw their charts with it.
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

/** The colours series get by position when they name none. */
export const CHART_PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [23, 190, 207],
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

/** Tick values at 1, 2 or 5 times a power of ten, about `count` of them over [min, max]. */
function ticks(min: number, max: number, count = 5): number[] {
  const rough = (max - min || 1) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) as number;
  const values: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + 1e-9 * step; t += step) values.push(Number(t.toPrecision(6)));
  return values;
}

function label(value: number): string {
  return Number(value.toPrecision(6)).toString();
}

/** One chart of several drawn side by side by {@link panelsChartPng}. */
export interface ChartPanel {
  readonly title?: string;
  readonly xLabel: string;
  readonly yLabel?: string;
  readonly series: readonly ChartSeries[];
  /** x runs from 0 to `xMax`. Default: the largest x. */
  readonly xMax?: number;
  /** y range. Default: 0 to the largest y; with `fitY`, the data's range with a margin. */
  readonly yMin?: number;
  readonly yMax?: number;
  /** Fit the y axis to the data (for values far from 0, such as memory in MB). Default false. */
  readonly fitY?: boolean;
}

/** Options of {@link panelsChartPng}. */
export interface PanelsChartOptions {
  /** The PNG's zlib codec (see encodePng). Default: stored blocks; pass natinv/node's `nodeZlib` to compress. */
  readonly zlib?: ZlibCodec;
  /** Pixels per panel. Default 640 x 400. */
  readonly panelWidth?: number;
  readonly panelHeight?: number;
}

function yRange(panel: ChartPanel): [number, number] {
  const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  if (!panel.fitY) return [panel.yMin ?? 0, panel.yMax ?? Math.max(1e-9, ...ys)];
  const low = ys.length === 0 ? 0 : Math.min(...ys);
  const high = ys.length === 0 ? 1 : Math.max(...ys);
  const margin = (high - low) * 0.08 || Math.abs(high) * 0.08 || 1;
  return [panel.yMin ?? low - margin, panel.yMax ?? high + margin];
}

/** Draws one panel into the canvas region starting at `offset`; the legend sits in the plot's top-left corner. */
function drawPanel(canvas: Canvas, panel: ChartPanel, offset: number, width: number, height: number): void {
  const all = panel.series.flatMap((s) => s.points);
  const xMax = panel.xMax ?? Math.max(1e-9, ...all.map(([x]) => x));
  const [yMin, yMax] = yRange(panel);
  const left = offset + 56;
  const right = offset + width - 16;
  const top = panel.title == null ? 16 : 30;
  const bottom = height - 40;
  const toX = (x: number): number => left + ((right - left) * x) / xMax;
  const toY = (y: number): number => bottom - ((bottom - top) * (y - yMin)) / (yMax - yMin);

  if (panel.title != null) canvas.text(offset + (width - textWidth(panel.title)) / 2, 10, panel.title);
  for (const x of ticks(0, xMax)) {
    canvas.line(toX(x), top, toX(x), bottom, GRID);
    canvas.text(toX(x) - textWidth(label(x)) / 2, bottom + 6, label(x));
  }
  for (const y of ticks(yMin, yMax)) {
    canvas.line(left, toY(y), right, toY(y), GRID);
    canvas.text(left - 6 - textWidth(label(y)), toY(y) - GLYPH_HEIGHT / 2, label(y));
  }
  canvas.line(left, top, left, bottom, INK);
  canvas.line(left, bottom, right, bottom, INK);
  canvas.text((left + right - textWidth(panel.xLabel)) / 2, height - 14, panel.xLabel);
  if (panel.yLabel != null) canvas.text(offset + 4, top - 12 < 0 ? 2 : top - 12, panel.yLabel);

  panel.series.forEach((s, k) => {
    const color = s.color ?? CHART_PALETTE[k % CHART_PALETTE.length];
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
}

/** Draws panels side by side (each its own axes, ticks and legend); returns PNG bytes. */
export function panelsChartPng(panels: readonly ChartPanel[], options: PanelsChartOptions = {}): Uint8Array {
  if (panels.length === 0) throw new Error('panelsChartPng: give at least one panel.');
  const width = options.panelWidth ?? 640;
  const height = options.panelHeight ?? 400;
  const canvas = new Canvas(width * panels.length, height);
  panels.forEach((panel, i) => drawPanel(canvas, panel, i * width, width, height));
  return encodePng(canvas.pixels, canvas.width, height, 3, { zlib: options.zlib });
}

/** Draws the series as lines (and dots at the points) with axes, ticks and a legend; returns PNG bytes. */
export function lineChartPng(series: readonly ChartSeries[], options: LineChartOptions): Uint8Array {
  const { zlib, width, height, ...panel } = options;
  return panelsChartPng([{ ...panel, series }], { zlib, panelWidth: width, panelHeight: height });
}
