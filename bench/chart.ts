/**
 * A small line-chart renderer for the benches' PNGs: panels side by side, one line per series,
 * axes with tick labels, a legend. Pixels only (natinv's PNG encoder and bitmap font), so a bench
 * needs no plotting package.
 */
import { GLYPH_HEIGHT, GLYPH_SPACING, GLYPH_WIDTH, glyph, textWidth } from '../src/io/font';
import { encodePng } from '../src/io/png-node';

export type Color = readonly [number, number, number];

export interface Series {
  readonly name: string;
  readonly color: Color;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly series: readonly Series[];
}

/** Distinct colours for up to eight lines. */
export const PALETTE: readonly Color[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [255, 127, 14],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [23, 190, 207],
];

class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }
  set(x: number, y: number, c: Color): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.pixels.set(c, (yi * this.width + xi) * 3);
  }
  dot(x: number, y: number, c: Color, r = 1): void {
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) this.set(x + dx, y + dy, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: Color, r = 0): void {
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= n; i++) this.dot(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, c, r);
  }
  text(s: string, x: number, y: number, c: Color = [0, 0, 0]): void {
    let cx = x;
    for (const ch of s) {
      const g = glyph(ch);
      g.forEach((row, gy) => row.forEach((on, gx) => on && this.set(cx + gx, y + gy, c)));
      cx += GLYPH_WIDTH + GLYPH_SPACING;
    }
  }
}

function niceTicks(min: number, max: number, count = 5): number[] {
  const span = max - min || 1;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + 1e-9; t += step) ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

/** Renders `panels` side by side with a shared legend below; returns PNG bytes. */
export function lineChartPng(panels: readonly Panel[], options: { panelWidth?: number; panelHeight?: number } = {}): Uint8Array {
  const pw = options.panelWidth ?? 420;
  const ph = options.panelHeight ?? 300;
  const names = [...new Map(panels.flatMap((p) => p.series.map((s) => [s.name, s.color] as const))).entries()];
  const legendRows = names.length;
  const width = pw * panels.length;
  const height = ph + 12 + legendRows * (GLYPH_HEIGHT + 5);
  const canvas = new Canvas(width, height);
  const grey: Color = [200, 200, 200];
  panels.forEach((panel, p) => {
    const left = p * pw + 48;
    const right = (p + 1) * pw - 14;
    const top = 22;
    const bottom = ph - 32;
    const points = panel.series.flatMap((s) => s.points);
    const xs = points.map(([x]) => x);
    const ys = points.map(([, y]) => y);
    const xMax = Math.max(1, ...xs);
    let yMin = Math.min(...ys);
    let yMax = Math.max(...ys);
    if (!Number.isFinite(yMin)) [yMin, yMax] = [0, 1];
    const pad = (yMax - yMin) * 0.08 || 1;
    yMin -= pad;
    yMax += pad;
    const X = (x: number): number => left + ((right - left) * x) / xMax;
    const Y = (y: number): number => bottom - ((bottom - top) * (y - yMin)) / (yMax - yMin);
    canvas.text(panel.title, left, 6);
    for (const t of niceTicks(yMin, yMax)) {
      canvas.line(left, Y(t), right, Y(t), grey);
      const label = String(t);
      canvas.text(label, left - 4 - textWidth(label), Y(t) - 3);
    }
    for (const t of niceTicks(0, xMax)) {
      canvas.line(X(t), bottom, X(t), bottom + 3, [0, 0, 0]);
      const label = String(t);
      canvas.text(label, X(t) - textWidth(label) / 2, bottom + 6);
    }
    canvas.line(left, top, left, bottom, [0, 0, 0]);
    canvas.line(left, bottom, right, bottom, [0, 0, 0]);
    canvas.text(panel.xLabel, (left + right) / 2 - textWidth(panel.xLabel) / 2, bottom + 17);
    for (const s of panel.series) {
      const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
      sorted.forEach(([x, y], i) => {
        canvas.dot(X(x), Y(y), s.color, 2);
        if (i > 0) canvas.line(X(sorted[i - 1][0]), Y(sorted[i - 1][1]), X(x), Y(y), s.color, 0);
      });
    }
  });
  names.forEach(([name, color], i) => {
    const y = ph + 6 + i * (GLYPH_HEIGHT + 5);
    canvas.line(48, y + 3, 68, y + 3, color, 1);
    canvas.text(name, 74, y);
  });
  return encodePng(canvas.pixels, width, height, 3);
}
