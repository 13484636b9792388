/** Inception score: exp(E_x KL(p(y|x) || p(y))), high when predictions are confident and diverse. */
import type { ImageBatches, Network } from './batches';
import { collectProbabilities } from './predictions';

/** Options of {@link inceptionScore}. */
export interface InceptionScoreOptions {
  /** The images are cut into this many consecutive splits; the score is averaged over them. Default 10. */
  readonly splits?: number;
  /** Images per forward pass. Default 256. */
  readonly batchSize?: number;
  /** Dispose each tensor an iterator yields once it is used. Default true. */
  readonly disposeBatches?: boolean;
}

/** An inception score over splits. */
export interface InceptionScore {
  /** Mean of the per-split scores. */
  readonly mean: number;
  /** Population standard deviation of the per-split scores (as the original code reports). */
  readonly std: number;
  /** The score of each split. */
  readonly splits: readonly number[];
}

/**
 * The inception score of class probabilities [count, numClasses] (row-major, rows summing to 1),
 * in float64: per split, exp(mean over its rows of KL(p(y|x) || p(y))) with p(y) the split's mean
 * row. Splits are consecutive and as equal as possible (sizes differ by at most one). Ranges from
 * 1 (every image gets the same distribution) to numClasses (confident, classes used uniformly).
 */
export function inceptionScoreFromProbabilities(
  probabilities: ArrayLike<number>,
  numClasses: number,
  options: Pick<InceptionScoreOptions, 'splits'> = {},
): InceptionScore {
  const what = 'inceptionScore';
  if (!Number.isSafeInteger(numClasses) || numClasses < 1)
    throw new Error(`${what}: numClasses must be a positive integer, got ${numClasses}.`);
  if (probabilities.length % numClasses !== 0) {
    throw new Error(`${what}: ${probabilities.length} probabilities is not a whole number of rows of ${numClasses} classes.`);
  }
  const count = probabilities.length / numClasses;
  const splits = options.splits ?? 10;
  if (!Number.isSafeInteger(splits) || splits < 1) throw new Error(`${what}: splits must be a positive integer, got ${splits}.`);
  if (count < splits)
    throw new Error(`${what}: ${count} images cannot fill ${splits} splits; pass fewer splits (options.splits) or more images.`);
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i];
    if (!(p >= 0 && p <= 1)) {
      throw new Error(`${what}: probability ${p} at row ${Math.floor(i / numClasses)} is not in [0, 1]; pass softmax outputs, not logits.`);
    }
  }
  const scores: number[] = [];
  const marginal = new Float64Array(numClasses);
  for (let s = 0; s < splits; s++) {
    const start = Math.floor((s * count) / splits);
    const end = Math.floor(((s + 1) * count) / splits);
    marginal.fill(0);
    for (let i = start; i < end; i++) for (let c = 0; c < numClasses; c++) marginal[c] += probabilities[i * numClasses + c];
    for (let c = 0; c < numClasses; c++) marginal[c] /= end - start;
    let kl = 0;
    for (let i = start; i < end; i++) {
      for (let c = 0; c < numClasses; c++) {
        const p = probabilities[i * numClasses + c];
        if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[c])); // 0 log 0 = 0
      }
    }
    scores.push(Math.exp(kl / (end - start)));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits);
  return { mean, std, splits: scores };
}

/**
 * Inception score of `images` (NHWC, the classifier's normalized input space) under `classifier`
 * (the original uses Inception-v3 on ImageNet; with a CIFAR classifier the numbers are comparable
 * only to other numbers from the same classifier). Inference mode, batched, no leaks.
 *
 * @example
 * const { mean, std } = await inceptionScore(teacher, images, { splits: 10 });
 */
export async function inceptionScore(
  classifier: Network,
  images: ImageBatches,
  options: InceptionScoreOptions = {},
): Promise<InceptionScore> {
  const { probabilities, numClasses } = await collectProbabilities(classifier, images, options, 'inceptionScore');
  return inceptionScoreFromProbabilities(probabilities, numClasses, options);
}
