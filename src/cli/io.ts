/**
 * What a command may touch of the outside world, passed in so the CLI runs in-process (tests)
 * as well as from a shell: two output streams, the environment, the working folder, an abort
 * signal and a clock.
 */

/** An output stream: `process.stdout`, `process.stderr`, or a test's collector. */
export interface CliStream {
  write(text: string): unknown;
  /** True for a terminal: progress then updates one line in place. */
  readonly isTTY?: boolean;
  /** Terminal width, when known. */
  readonly columns?: number;
}

/** The CLI's view of its process. */
export interface CliIo {
  /** Results (tables, accuracies) and, with --json, one JSON object per line. */
  readonly stdout: CliStream;
  /** Progress, notes and error messages. */
  readonly stderr: CliStream;
  /** Environment variables (NATINV_BACKEND, JOB_COMPLETION_INDEX, NATINV_SHARD_COUNT). Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder relative paths are resolved against. Default `process.cwd()`. */
  readonly cwd?: string;
  /** Aborted on Ctrl-C: a run stops after the current step and keeps every finished batch. */
  readonly signal?: AbortSignal;
  /** Milliseconds clock for durations and ETAs. Default `Date.now`. */
  readonly now?: () => number;
}

/** Exit codes of the `natinv` command. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** The command ran and failed (unreadable file, diverged synthesis, ...). */
  failure: 1,
  /** A bad command line (unknown option, missing value, wrong number, missing file, ...). */
  usage: 2,
  /** Stopped by Ctrl-C (SIGINT); finished batches are kept, a rerun resumes. */
  interrupted: 130,
} as const;

/**
 * Where a command's words go. Human-readable results go to stdout; notes and progress to stderr.
 * With `json`, stdout carries only JSON lines (events and results) and notes stay on stderr.
 */
export class Reporter {
  readonly json: boolean;
  readonly stdout: CliStream;
  readonly stderr: CliStream;

  constructor(io: CliIo, json: boolean) {
    this.json = json;
    this.stdout = io.stdout;
    this.stderr = io.stderr;
  }

  /** A note on stderr (always shown, also with --json). */
  note(line: string): void {
    this.stderr.write(`${line}\n`);
  }

  /** A human-readable result line on stdout; suppressed with --json (the JSON event carries it). */
  result(line: string): void {
    if (!this.json) this.stdout.write(`${line}\n`);
  }

  /** One JSON object on its own stdout line, only with --json. */
  event(type: string, fields: Record<string, unknown>): void {
    if (this.json) this.stdout.write(`${JSON.stringify({ event: type, ...fields })}\n`);
  }
}

/** `1m05s`, `42s`, `2h03m`: short durations for progress lines. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** A loss value in a few characters: `0.41`, `12.3`, `2543`, `3.1e-5`. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude === 0) return '0';
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude < 0.01) return value.toExponential(1).replace('.0e', 'e');
  const text = magnitude >= 10 ? value.toFixed(1) : magnitude >= 1 ? value.toFixed(2) : value.toPrecision(2);
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/** `ce 0.41 bn 12.3 tv 0.8`: every loss term, in the objective's order. */
export function formatTerms(terms: Readonly<Record<string, number>>): string {
  return Object.entries(terms)
    .map(([name, value]) => `${name} ${formatNumber(value)}`)
    .join(' ');
}

/** `1 batch`, `3 batches`. */
export function plural(count: number, word: string, pluralWord = `${word}s`): string {
  return `${count} ${count === 1 ? word : pluralWord}`;
}
