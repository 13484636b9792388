/**
 * Progress of a synthesis run on stderr: on a terminal one line per batch, rewritten in place
 * with every loss term, images/s and the ETA; otherwise (or with --json) plain lines at about
 * every tenth of a batch. With --json, `step` events carry the same numbers on stdout.
 */
import type { StepReport } from '../synthesis/synthesize';
import type { SynthesizedBatch } from '../synthesis/batch';
import { formatDuration, formatNumber, formatTerms, plural, Reporter } from './io';

/** What the progress display knows about the run. */
export interface ProgressPlan {
  /** Batches this process will make (after skipping finished ones). */
  readonly batches: number;
  readonly batchSize: number;
  readonly steps: number;
  /** Number of batches of the whole run (for `batch 3/8`). */
  readonly runBatches: number;
}

// Plain (non-terminal) lines: at most one per this many ms, besides the first and last of a batch.
const PLAIN_INTERVAL_MS = 30_000;
// Terminal line: redrawn at most this often.
const TTY_INTERVAL_MS = 100;
// The time estimate waits for five measured steps, or fewer when they already took this long.
const ESTIMATE_AFTER_MS = 5_000;

/**
 * The progress line within `width` characters: the full line if it fits, else without the total
 * loss, else with the loss terms cut short; the speed and ETA at its end always stay.
 */
export function fitLine(full: string, withoutTotal: string, tail: string, width: number): string {
  if (full.length <= width) return full;
  if (withoutTotal.length + tail.length <= width) return `${withoutTotal}${tail}`;
  const room = Math.max(0, width - tail.length - 1);
  return `${withoutTotal.slice(0, room)}…${tail}`;
}

/** Tracks speed across batches and renders the progress line and the estimate. */
export class Progress {
  private readonly plain: boolean;
  private readonly now: () => number;
  private plan: ProgressPlan | undefined;
  /** Step durations measured inside batches: first steps (they set up kernels and sources) apart. */
  private readonly firstSteps = { ms: 0, count: 0 };
  private readonly laterSteps = { ms: 0, count: 0 };
  private previousElapsed = 0;
  private lastDraw = 0;
  private drawn = false;
  private batchesDone = 0;
  private batchStart = 0;
  private estimated = false;

  constructor(
    private readonly reporter: Reporter,
    now: () => number,
    private readonly onEstimate?: (totalMs: number, stepMs: number) => void,
  ) {
    this.now = now;
    this.plain = reporter.json || reporter.stderr.isTTY !== true;
  }

  /** Called once the batches to make are known. */
  begin(plan: ProgressPlan): void {
    this.plan = plan;
  }

  /**
   * Milliseconds per step, measured inside batches only (writing files and ADI's student rounds
   * between batches are left out), from steps after the first of a batch when there are any.
   */
  stepMs(): number | undefined {
    const steps = this.laterSteps.count > 0 ? this.laterSteps : this.firstSteps;
    return steps.count === 0 ? undefined : steps.ms / steps.count;
  }

  /** Estimated milliseconds left for every batch of this process. */
  remainingMs(step: number): number | undefined {
    const plan = this.plan;
    const perStep = this.stepMs();
    if (plan === undefined || perStep === undefined) return undefined;
    const left = plan.steps - step + plan.steps * Math.max(0, plan.batches - this.batchesDone - 1);
    return left * perStep;
  }

  /** One finished step. */
  step(report: StepReport & { readonly batch: number }): void {
    const plan = this.plan;
    if (plan === undefined) return;
    const time = this.now();
    if (report.step === 1) {
      this.batchStart = time - report.elapsedMs;
      this.previousElapsed = 0;
    }
    const bucket = report.step === 1 ? this.firstSteps : this.laterSteps;
    bucket.ms += report.elapsedMs - this.previousElapsed;
    bucket.count += 1;
    this.previousElapsed = report.elapsedMs;
    const perStep = this.stepMs();
    const remaining = this.remainingMs(report.step);
    const imagesPerSecond = perStep === undefined ? undefined : (plan.batchSize / plan.steps) * (1000 / perStep);
    const last = report.step === report.steps;
    // Enough steps after a batch's first (which sets up kernels) to trust, or a last step.
    const settled = this.laterSteps.count >= 5 || (this.laterSteps.count >= 1 && this.laterSteps.ms >= ESTIMATE_AFTER_MS);
    if (!this.estimated && perStep !== undefined && (settled || last) && remaining !== undefined) {
      this.estimated = true;
      if (this.onEstimate !== undefined) {
        // The estimate is a note on a line of its own, not glued onto the progress line drawn in place.
        this.clearLine();
        this.onEstimate(remaining + (this.now() - this.batchStart), perStep);
      }
    }
    const head = `batch ${report.batch + 1}/${plan.runBatches} step ${report.step}/${report.steps}`;
    const speed = imagesPerSecond === undefined ? '' : `  ${formatNumber(imagesPerSecond)} img/s`;
    const eta = remaining === undefined ? '' : `  ETA ${formatDuration(remaining)}`;
    const line = `${head}  loss ${formatNumber(report.loss)}  ${formatTerms(report.terms)}${speed}${eta}`;
    this.reporter.event('step', {
      batch: report.batch,
      step: report.step,
      steps: report.steps,
      loss: report.loss,
      terms: report.terms,
      imagesPerSecond: imagesPerSecond ?? null,
      etaSeconds: remaining === undefined ? null : Math.round(remaining / 1000),
    });
    if (this.plain) {
      const every = Math.max(1, Math.ceil(report.steps / 10));
      if (report.step === 1 || last || report.step % every === 0 || time - this.lastDraw >= PLAIN_INTERVAL_MS) {
        this.lastDraw = time;
        this.reporter.stderr.write(`${line}\n`);
      }
      return;
    }
    if (last || time - this.lastDraw >= TTY_INTERVAL_MS) {
      this.lastDraw = time;
      const width = (this.reporter.stderr.columns ?? 120) - 1;
      this.reporter.stderr.write(`\r\x1b[2K${fitLine(line, `${head}  ${formatTerms(report.terms)}`, `${speed}${eta}`, width)}`);
      this.drawn = true;
    }
  }

  /** Ends the in-place line so the next output starts on a fresh line. */
  clearLine(): void {
    if (this.drawn) {
      this.reporter.stderr.write('\n');
      this.drawn = false;
    }
  }

  /** A batch was written. */
  batchDone(batch: SynthesizedBatch, where: string): void {
    this.clearLine();
    this.batchesDone++;
    const correct = batch.predictions.reduce((n, p, i) => n + (p === batch.targets[i] ? 1 : 0), 0);
    const confidence = batch.confidence.reduce((a, b) => a + b, 0) / Math.max(1, batch.confidence.length);
    const count = batch.shape[0];
    this.reporter.note(
      `batch ${batch.index + 1}/${this.plan?.runBatches ?? '?'} done in ${formatDuration(this.now() - this.batchStart)}: ` +
        `loss ${formatNumber(batch.loss)} (${formatTerms(batch.terms)}), teacher agrees on ${correct}/${count} targets ` +
        // natinv evaluate judges the PNGs, clipped to [0, 1]: where they differ its count may too, and should not surprise.
        `(mean confidence ${formatNumber(confidence)}; ${pngsAreJudged(batch) ? 'judged as the PNGs hold them' : 'judged unclipped, the PNGs are clipped'}) -> ${where}`,
    );
  }

  /** `2 batches of 64 images x 200 steps`. */
  static describe(batches: number, batchSize: number, steps: number): string {
    return `${plural(batches, 'batch', 'batches')} of ${plural(batchSize, 'image')} x ${plural(steps, 'step')}`;
  }
}

/** Whether the images the teacher judged are the PNGs' pixels: every value within [0, 1] once de-normalized. */
function pngsAreJudged(batch: SynthesizedBatch): boolean {
  const { mean, std } = batch.normalization;
  const channels = batch.shape[3];
  return batch.images.every((value, i) => {
    const pixel = value * std[i % channels] + mean[i % channels];
    return pixel >= -1e-6 && pixel <= 1 + 1e-6;
  });
}
