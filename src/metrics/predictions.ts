/** Class probabilities of a classifier over many images, on the host. */
import * as tf from '@tensorflow/tfjs-core';
import { tapNetwork } from '../taps';
import { checkBatchSize, DEFAULT_METRICS_BATCH_SIZE, forEachChunk, ImageBatches, modelOf, Network } from './batches';

/** Options of {@link classProbabilities}. */
export interface ClassProbabilitiesOptions {
  /** Images per forward pass. Default 256. */
  readonly batchSize?: number;
  /** Dispose each tensor an iterator yields once it is used. Default true. */
  readonly disposeBatches?: boolean;
}

/** Softmax outputs of a classifier: [count, numClasses] row-major. */
export interface ClassProbabilities {
  readonly probabilities: Float32Array;
  readonly count: number;
  readonly numClasses: number;
}

/**
 * Softmax of `classifier`'s logits for every image (NHWC, the classifier's normalized input
 * space), inference mode, batched, copied to the host. The model must output logits [N, classes].
 */
export function classProbabilities(
  classifier: Network,
  images: ImageBatches,
  options: ClassProbabilitiesOptions = {},
): Promise<ClassProbabilities> {
  return collectProbabilities(classifier, images, options, 'classProbabilities');
}

/** {@link classProbabilities}, with `what` naming the caller in errors. */
export async function collectProbabilities(
  classifier: Network,
  images: ImageBatches,
  options: ClassProbabilitiesOptions,
  what: string,
): Promise<ClassProbabilities> {
  const tapped = tapNetwork(modelOf(classifier, what));
  const batchSize = checkBatchSize(options.batchSize ?? DEFAULT_METRICS_BATCH_SIZE, what);
  const chunks: Float32Array[] = [];
  let numClasses = -1;
  await forEachChunk(images, batchSize, what, options.disposeBatches ?? true, async (chunk) => {
    const probabilities = tf.tidy(() => {
      const { logits } = tapped.forward(chunk);
      if (logits.rank !== 2) {
        throw new Error(`${what}: the model must output logits [N, classes], got shape [${logits.shape.join(', ')}].`);
      }
      return tf.softmax(logits as tf.Tensor2D);
    });
    try {
      numClasses = probabilities.shape[1];
      chunks.push((await probabilities.data()) as Float32Array);
    } finally {
      probabilities.dispose();
    }
  });
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total === 0) throw new Error(`${what}: no images were given.`);
  const probabilities = new Float32Array(total);
  let at = 0;
  for (const chunk of chunks) {
    probabilities.set(chunk, at);
    at += chunk.length;
  }
  return { probabilities, count: total / numClasses, numClasses };
}

/** Index of the largest probability of each row. */
export function topOne({ probabilities, count, numClasses }: ClassProbabilities): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (probabilities[i * numClasses + c] > probabilities[i * numClasses + best]) best = c;
    out[i] = best;
  }
  return out;
}
