/**
 * `--follow` for training commands: train on a dataset folder while shards (a Kubernetes Indexed
 * Job sharing one volume) are still writing it. The following itself is the library's
 * (followDataset, and distill's arriving images); this module wires the options and the notes.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { PoolGrowth } from '../apps/arriving';
import { followDataset, FollowedDataset } from '../dataset/follow';
import { Options, OptionSpec, UsageError } from './args';
import { plural, Reporter } from './io';

/** Seconds between two looks at a followed folder: a stat call, nothing next to a batch's synthesis. */
const POLL_SECONDS = 1;

/** The options that turn following on. */
export const FOLLOW_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'follow',
    kind: 'flag',
    help:
      'Train while natinv synthesize (one process or the shards of an indexed job) is still writing --data: batches ' +
      'join the pool in index order as they are committed, in step with the schedule, and the run ends once every ' +
      "planned batch has joined and the schedule is done. --data may not exist yet. Epochs count the run's planned images.",
  },
  {
    name: 'follow-timeout',
    kind: 'number',
    value: 'MIN',
    help: 'With --follow: fail when no new batch has been committed to --data for MIN minutes (the synthesis may have stopped).',
    default: 'wait as long as it takes',
  },
];

/** A followed dataset with the numbers of the complete run, shaped like a dataset read whole. */
export interface FollowedPool extends FollowedDataset {
  /** Planned images. */
  readonly count: number;
  /** [planned images, height, width, channels]. */
  readonly shape: [number, number, number, number];
}

/** The --data of a followed run. */
export interface FollowedTrainingData {
  readonly folder: string;
  readonly dataset: FollowedPool;
}

/** Usage errors for a --follow command line; returns the idle timeout in milliseconds (Infinity: none). */
export function checkFollowOptions(options: Options, command: string): number {
  const minutes = options.number('follow-timeout');
  if (minutes === undefined) return Infinity;
  if (!options.flag('follow')) throw new UsageError(`${command}: --follow-timeout only applies with --follow; add --follow or drop it.`);
  if (!(minutes > 0)) throw new UsageError(`${command}: --follow-timeout must be greater than 0 minutes, got ${minutes}.`);
  return minutes * 60_000;
}

/** The folder of `--data DIR --follow`: it may not exist yet, but must not be a file. */
export function followFolder(text: string | undefined, cwd: string, command: string): string {
  if (text === undefined) throw new UsageError(`${command}: --follow needs --data DIR, the dataset folder the synthesis writes.`);
  const folder = path.resolve(cwd, text);
  if (fs.existsSync(folder) && !fs.statSync(folder).isDirectory()) {
    throw new UsageError(`${command}: --data ${text} is a file; give the dataset folder natinv synthesize writes (its --out).`);
  }
  return folder;
}

/**
 * Waits for the followed run's manifest and batch 0, noting what it waits for; undefined when
 * `signal` aborted first.
 */
export async function followTrainingData(
  folder: string,
  idleTimeout: number,
  reporter: Reporter,
  signal?: AbortSignal,
): Promise<FollowedTrainingData | undefined> {
  let waitingFor = -1;
  const followed = await followDataset(folder, {
    pollInterval: POLL_SECONDS * 1000,
    idleTimeout,
    signal,
    onWait: (next, planned) => {
      if (next === waitingFor) return;
      waitingFor = next;
      reporter.note(next === 0 ? `waiting for the first batch in ${folder}...` : `waiting for batch ${next} of ${planned} (${folder})...`);
    },
  });
  if (followed === undefined) return undefined;
  const count = followed.planned * followed.batchSize;
  reporter.note(
    `following ${folder}: ${plural(followed.planned, 'planned batch', 'planned batches')} of ${followed.batchSize} images; ` +
      'they join the pool as they are committed',
  );
  return { folder, dataset: { ...followed, count, shape: [count, ...followed.imageShape] } };
}

/** Reports a batch joining the pool: a `batch` event with --json. */
export function reportPoolGrowth(reporter: Reporter, growth: PoolGrowth): void {
  reporter.event('batch', { index: growth.batch, batches: growth.batches, planned: growth.planned, step: growth.step });
}
