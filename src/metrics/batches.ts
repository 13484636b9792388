/**
 * Feeding images to a network in batches for the metrics: one tensor sliced into chunks, or the
 * batches of an iterator, each run through an inference-mode forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Teacher } from '../models/teacher';

/**
 * Images for a metric, in the network's normalized input space, NHWC: one tensor (never disposed
 * by natinv) or an iterator of batches (each disposed after use unless `disposeBatches: false`).
 */
export type ImageBatches = tf.Tensor4D | Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>;

/** A network the metrics run: a tfjs LayersModel, or a {@link Teacher} (its model is used). */
export type Network = tfl.LayersModel | Teacher;

/** Batch size of the metrics' forward passes when not given. */
export const DEFAULT_METRICS_BATCH_SIZE = 256;

/** The LayersModel of a {@link Network}. */
export function modelOf(network: Network, what: string): tfl.LayersModel {
  const candidate = network as Partial<Teacher>;
  const model = candidate.normalization !== undefined && candidate.model !== undefined ? candidate.model : (network as tfl.LayersModel);
  if (model == null || typeof model.getLayer !== 'function') {
    throw new Error(`${what}: expected a tfjs LayersModel or a natinv Teacher, got ${model === null ? 'null' : typeof model}.`);
  }
  return model;
}

export function checkBatchSize(batchSize: number, what: string): number {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new Error(`${what}: batchSize must be a positive integer, got ${batchSize}.`);
  }
  return batchSize;
}

function isTensor(value: unknown): value is tf.Tensor {
  return value instanceof tf.Tensor || (typeof value === 'object' && value !== null && 'dataId' in value && 'rank' in value);
}

/**
 * Calls `visit` with consecutive chunks of at most `batchSize` images and their offset. Chunks are
 * valid only during the call: `visit` must copy what it keeps to the host. Returns the image count.
 */
export async function forEachChunk(
  images: ImageBatches,
  batchSize: number,
  what: string,
  disposeBatches: boolean,
  visit: (chunk: tf.Tensor4D, offset: number) => Promise<void>,
): Promise<number> {
  let offset = 0;
  const run = async (batch: tf.Tensor4D, ownsBatch: boolean): Promise<void> => {
    try {
      if (batch.rank !== 4) {
        throw new Error(`${what}: images must be an NHWC batch [N, height, width, channels], got shape [${batch.shape.join(', ')}].`);
      }
      const count = batch.shape[0];
      for (let start = 0; start < count; start += batchSize) {
        const size = Math.min(batchSize, count - start);
        const whole = start === 0 && size === count;
        const chunk = whole ? batch : tf.slice(batch, [start, 0, 0, 0], [size, -1, -1, -1]);
        try {
          await visit(chunk, offset);
        } finally {
          if (!whole) chunk.dispose();
        }
        offset += size;
      }
    } finally {
      if (ownsBatch) batch.dispose();
    }
  };
  if (isTensor(images)) {
    await run(images, false);
    return offset;
  }
  const iterable = images as Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>;
  if (
    iterable == null ||
    (typeof (iterable as AsyncIterable<tf.Tensor4D>)[Symbol.asyncIterator] !== 'function' &&
      typeof (iterable as Iterable<tf.Tensor4D>)[Symbol.iterator] !== 'function')
  ) {
    throw new Error(`${what}: images must be a rank-4 tensor or an (async) iterable of rank-4 tensors.`);
  }
  for await (const batch of iterable) {
    if (!isTensor(batch)) throw new Error(`${what}: the image iterator yielded ${typeof batch}, not a tensor.`);
    await run(batch, disposeBatches);
  }
  return offset;
}
