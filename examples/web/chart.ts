/** A live line chart of the loss and each term, log scale, on a 2D canvas (no chart library needed). */

export interface LossHistory {
  loss: number[];
  terms: Record<string, number[]>;
  /** Smoothed milliseconds per step. */
  msPerStep: number;
}

const COLORS = ['#222', '#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function drawChart(canvas: HTMLCanvasElement, history: LossHistory): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  const pad = { left: 48, right: 90, top: 10, bottom: 24 };
  ctx.clearRect(0, 0, width, height);
  const series: Array<[string, number[]]> = [['loss', history.loss], ...Object.entries(history.terms)];
  const values = series.flatMap(([, v]) => v).filter((v) => v > 0 && Number.isFinite(v));
  if (values.length === 0) return;
  const lo = Math.log10(Math.min(...values));
  const hi = Math.max(Math.log10(Math.max(...values)), lo + 1e-6);
  const steps = Math.max(history.loss.length, 2);
  const x = (i: number) => pad.left + (i / (steps - 1)) * (width - pad.left - pad.right);
  const y = (v: number) => pad.top + ((hi - Math.log10(v)) / (hi - lo)) * (height - pad.top - pad.bottom);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#666';
  ctx.strokeStyle = '#ddd';
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    ctx.beginPath();
    ctx.moveTo(pad.left, y(10 ** e));
    ctx.lineTo(width - pad.right, y(10 ** e));
    ctx.stroke();
    ctx.fillText(`1e${e}`, 4, y(10 ** e) + 4);
  }
  ctx.fillText(`step ${history.loss.length}`, width - pad.right - 50, height - 6);
  series.forEach(([name, points], k) => {
    ctx.strokeStyle = COLORS[k % COLORS.length];
    ctx.beginPath();
    points.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(Math.max(v, 10 ** lo))) : ctx.lineTo(x(i), y(Math.max(v, 10 ** lo)))));
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(name, width - pad.right + 6, pad.top + 12 + 14 * k);
  });
}
