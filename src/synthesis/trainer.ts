import * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from '../models/teacher';
import { oneToOneLabels } from '../sources/labels';
import type { ImageSource } from '../sources/types';
import { tapNetwork } from '../taps';
import { deriveSeed } from '../util/random';
import { denormalize, SynthesizedBatch } from './batch';
import { StepReport, synthesize, SynthesisOptions, SynthesisResult } from './synthesize';

/** Options every trainer shares. */
export interface TrainerOptions {
  /** Number of batches: indices 0..batches-1. Default 1. Ignored when batchIndices is given. */
  readonly batches?: number;
  /** Exactly which batch indices to synthesize (resuming, sharding). */
  readonly batchIndices?: readonly number[];
  /** Images per batch. Default 256 (the papers'). */
  readonly batchSize?: number;
  /** Optimization steps per batch. Default: the method's. */
  readonly steps?: number;
  /** Run seed; batch i's randomness derives from (seed, i) only. Default 0. */
  readonly seed?: number;
  /** Target classes of batch i. Default: cycle through the classes, fill the rest at random. */
  readonly labels?: (batchIndex: number, batchSize: number) => ArrayLike<number>;
  /** Called after every step of every batch. */
  readonly onStep?: (report: StepReport & { readonly batch: number }) => void | Promise<void>;
  /** Stops after the current step; the unfinished batch is dropped, finished ones were yielded. */
  readonly signal?: AbortSignal;
}

/** What a method contributes for one batch: its source and the loop's settings. */
export interface BatchPlan {
  readonly source: ImageSource;
  readonly synthesis: Omit<SynthesisOptions, 'teacher' | 'source' | 'steps' | 'onStep' | 'signal'>;
}

/** The batch indices a trainer runs, validated. */
export function resolveBatchIndices(options: TrainerOptions): number[] {
  if (options.batchIndices != null) {
    const bad = options.batchIndices.find((i) => !Number.isInteger(i) || i < 0);
    if (bad != null) throw new Error(`batchIndices must be non-negative integers, got ${bad}.`);
    return [...options.batchIndices];
  }
  const batches = options.batches ?? 1;
  if (!Number.isInteger(batches) || batches < 0) throw new Error(`batches must be a non-negative integer, got ${batches}.`);
  return Array.from({ length: batches }, (_, i) => i);
}

/** Target labels of one batch. */
export function batchLabels(teacher: Teacher, options: TrainerOptions, index: number, batchSize: number): Int32Array {
  if (options.labels != null) return Int32Array.from(options.labels(index, batchSize));
  return oneToOneLabels({ batchSize, numClasses: teacher.numClasses, seed: deriveSeed(options.seed ?? 0, 'labels', index) });
}

/** Teacher probabilities of the targets and top-1 predictions on the kept images. */
function judge(teacher: Teacher, images: tf.Tensor4D, targets: Int32Array): { confidence: Float32Array; predictions: Int32Array } {
  return tf.tidy(() => {
    const logits = tapNetwork(teacher.model).forward(images).logits;
    const probabilities = tf.softmax(logits);
    const target = tf.sum(tf.mul(probabilities, tf.oneHot(tf.tensor1d(targets, 'int32'), teacher.numClasses)), -1);
    return {
      confidence: Float32Array.from(target.dataSync()),
      predictions: Int32Array.from(tf.argMax(logits, -1).dataSync()),
    };
  });
}

/**
 * Turns a finished synthesis into the plain-data batch every method yields: the kept images in
 * both spaces, the teacher's judgement of them, the loss and its terms. Does not dispose
 * `result.images`.
 */
export function finishedBatch(
  teacher: Teacher,
  batch: { readonly method: string; readonly seed: number; readonly index: number; readonly labels: Int32Array },
  result: SynthesisResult,
): SynthesizedBatch {
  const targets = result.targets ?? batch.labels;
  const { confidence, predictions } = judge(teacher, result.images, targets);
  const images = Float32Array.from(result.images.dataSync());
  const images01 = tf.tidy(() => denormalize(result.images, teacher.normalization).dataSync());
  const [b, h, w, c] = result.images.shape;
  return {
    index: batch.index,
    method: batch.method,
    seed: batch.seed,
    teacher: teacher.name,
    shape: [b, h, w, c],
    images,
    normalization: teacher.normalization,
    images01: Float32Array.from(images01),
    targets,
    confidence,
    predictions,
    loss: result.bestLoss,
    terms: result.terms,
    steps: result.steps,
  };
}

/**
 * Runs one synthesis per batch index and yields each finished batch as plain data. A fresh source
 * per batch ("one-to-one"); the plan for batch i may depend only on (seed, i).
 */
export async function* runBatches(
  teacher: Teacher,
  method: string,
  options: TrainerOptions & { readonly steps: number; readonly batchSize: number },
  plan: (index: number, labels: Int32Array) => BatchPlan,
): AsyncGenerator<SynthesizedBatch> {
  const seed = options.seed ?? 0;
  for (const index of resolveBatchIndices(options)) {
    if (options.signal?.aborted) return;
    const labels = batchLabels(teacher, options, index, options.batchSize);
    const { source, synthesis } = plan(index, labels);
    let result;
    try {
      result = await synthesize({
        ...synthesis,
        teacher,
        source,
        steps: options.steps,
        targets: synthesis.targets ?? labels,
        seed: deriveSeed(seed, 'batch', index),
        signal: options.signal,
        onStep: options.onStep == null ? undefined : (report) => options.onStep?.({ ...report, batch: index }),
      });
    } finally {
      source.dispose();
    }
    try {
      if (result.aborted) return;
      yield finishedBatch(teacher, { method, seed, index, labels }, result);
    } finally {
      result.images.dispose();
    }
  }
}
