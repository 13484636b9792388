/**
 * One DeepInversion / NaturalInversion synthesis step as the benches time it, platform-neutral:
 * bench/step.ts runs it in Node on every backend, bench/browser-step.ts in Chromium's page
 * (bench/pages/browser-step.ts). A step is one iteration of `synthesize` as the deepInversion /
 * naturalInversion presets configure it (CIFAR settings), timed between consecutive `onStep`
 * callbacks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { compose, flip, jitter } from '../src/augment';
import type { Teacher } from '../src/models/teacher';
import { bnStatistics, crossEntropy, l2Prior, Objective, totalVariation, weighted } from '../src/objectives';
import { oneToOneLabels } from '../src/sources/labels';
import { naturalSource } from '../src/sources/natural';
import { pixels } from '../src/sources/pixels';
import type { ImageSource } from '../src/sources/types';
import { DEEP_INVERSION_PRESETS, NATURAL_INVERSION_PRESETS } from '../src/synthesis/methods';
import { synthesize, SynthesisOptions, SynthesisResult } from '../src/synthesis/synthesize';

/** The synthesis steps: DeepInversion (pixels) and NaturalInversion (generator, FTP, ACS). */
export type SynthesisMethod = 'di' | 'ni';

/** The loop settings of the deepInversion / naturalInversion presets (CIFAR). */
export function stepSetup(
  method: SynthesisMethod,
  batch: number,
  teacher: Teacher,
): { source: ImageSource; options: Omit<SynthesisOptions, 'teacher' | 'source' | 'steps'> } {
  const labels = oneToOneLabels({ batchSize: batch, numClasses: teacher.numClasses, seed: 0 });
  if (method === 'di') {
    const preset = DEEP_INVERSION_PRESETS.cifar;
    const objective: Objective = weighted([
      [preset.weights.ce, crossEntropy()],
      [preset.weights.bn, bnStatistics()],
      [preset.weights.tv, totalVariation('l2', { name: 'tv' })],
    ]);
    return {
      source: pixels({ batchSize: batch, imageShape: [...teacher.inputShape], seed: 0, learningRate: preset.learningRate }),
      options: { objective, augmentation: jitter({ maxShift: 2 }), targets: labels },
    };
  }
  const { weights } = NATURAL_INVERSION_PRESETS.cifar10;
  const objective: Objective = weighted([
    [weights.ce, crossEntropy()],
    [weights.bn, bnStatistics()],
    [weights.tv, totalVariation('l2', { name: 'tv' })],
    [weights.l2, l2Prior('batch')],
  ]);
  return {
    source: naturalSource({ teacher, batchSize: batch, labels, seed: 0 }),
    options: { objective, augmentation: compose(jitter({ maxShift: 2 }), flip()) },
  };
}

/** What the timed loop records, one entry per step (warm-up steps first). */
export interface StepRecord {
  /** Seconds since the previous step ended (the first: since `run` was first called). */
  readonly times: number[];
  /** tf.memory().numTensors after every step. */
  readonly counts: number[];
  readonly losses: number[];
  /** Steps that lowered the best loss so far. */
  improved: number;
}

/**
 * The step loop of one (method, batch): `run(steps)` runs that many steps of `synthesize` on the
 * source, appending to `record`; runs continue the same source. `onWarm` is called at the end of
 * the last warm-up step (`warmup` steps into the record), before the first timed one.
 */
export function stepRunner(
  teacher: Teacher,
  method: SynthesisMethod,
  batch: number,
  warmup: number,
  onWarm?: () => void,
): { source: ImageSource; record: StepRecord; run: (steps: number) => Promise<SynthesisResult> } {
  const { source, options } = stepSetup(method, batch, teacher);
  const record: StepRecord = { times: [], counts: [], losses: [], improved: 0 };
  let bestSeen = Infinity;
  let last: number | undefined;
  const run = (steps: number): Promise<SynthesisResult> => {
    last ??= performance.now();
    return synthesize({
      ...options,
      teacher,
      source,
      steps,
      onStep: (report) => {
        const now = performance.now();
        if (record.times.length === warmup - 1) onWarm?.();
        record.times.push((now - last!) / 1000);
        last = now;
        record.counts.push(tf.memory().numTensors);
        record.losses.push(report.loss);
        if (report.bestLoss < bestSeen) {
          bestSeen = report.bestLoss;
          record.improved += 1;
        }
      },
    });
  };
  return { source, record, run };
}

export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}
