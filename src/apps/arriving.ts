/**
 * Training on images that are still arriving (a dataset folder that shards are writing, followed
 * with followDataset): the pool grows batch by batch, in step with the schedule, so that a run is
 * the same whatever the moment each batch arrives.
 */
import type { SynthesizedBatch } from '../synthesis/batch';
import type { Random } from '../util/random';
import { cropFlip, CropFlipOptions, ImagePool } from './images';
import type { HostBatch } from './loop';

/** Batches that arrive while training runs: what `followDataset` returns fits. */
export interface ArrivingImages {
  /** The batches in the order they join the pool (0, 1, 2, ...), each once. */
  readonly batches: AsyncIterable<SynthesizedBatch>;
  /** How many batches will arrive. */
  readonly planned: number;
  /** Images in each batch. */
  readonly batchSize: number;
}

/** A batch joining the pool, as reported to `onPoolGrowth`. */
export interface PoolGrowth {
  /** Index of the batch that joined (its SynthesizedBatch.index). */
  readonly batch: number;
  /** Batches in the pool now, of `planned`. */
  readonly batches: number;
  readonly planned: number;
  /** The 0-based optimizer step that first samples from the grown pool. */
  readonly step: number;
}

/** True for {@link ArrivingImages} (rather than batches in hand or one host array). */
export function isArriving(images: unknown): images is ArrivingImages {
  return images != null && typeof (images as ArrivingImages).batches?.[Symbol.asyncIterator] === 'function';
}

/**
 * Batches the pool must hold before step `step` (0-based) of `totalSteps`: they join in
 * proportion to the schedule, ceil((step + 1) x planned / totalSteps), so the last step sees every
 * planned batch and the run does not depend on when each batch arrived.
 */
export function batchesNeeded(step: number, totalSteps: number, planned: number): number {
  return Math.min(planned, Math.ceil(((step + 1) * planned) / totalSteps));
}

/** Checks `images` and returns the number of images the run will end with. */
export function plannedImages(images: ArrivingImages, what: string): number {
  const { planned, batchSize } = images;
  if (!Number.isSafeInteger(planned) || planned < 1) throw new Error(`${what}.planned must be a positive integer, got ${planned}.`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new Error(`${what}.batchSize must be a positive integer, got ${batchSize}.`);
  }
  return planned * batchSize;
}

/** Settings of {@link growingPoolBatches}. */
export interface GrowingPoolSettings {
  readonly what: string;
  /** [height, width, channels] the models take. */
  readonly imageShape: readonly [number, number, number];
  /** Images per minibatch. */
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly augmentation: CropFlipOptions;
  readonly onPoolGrowth?: (growth: PoolGrowth) => void | Promise<void>;
}

/** The minibatch maker of a run on arriving images, and the wait for its first batch. */
export interface GrowingPoolBatches {
  /**
   * Waits for the batches step 0 needs; false when the batches ended first (an abort of the
   * source). Call before training.
   */
  readonly start: () => Promise<boolean>;
  /**
   * The minibatch of a step: `batchSize` distinct images drawn uniformly from the pool (all of
   * them while it is smaller), cropped and flipped, after waiting for the batches the step needs.
   */
  readonly batch: (epoch: number, stepInEpoch: number, random: Random) => Promise<HostBatch>;
}

/**
 * Minibatches from a pool that grows as `images` arrive, batch i joining before the first step
 * that {@link batchesNeeded} says needs it. Throws when the batches end before the plan is
 * complete (unless `signal` aborted: then the step sees the pool as it is, and the loop stops),
 * or a batch's size differs from `images.batchSize`.
 */
export function growingPoolBatches(images: ArrivingImages, settings: GrowingPoolSettings, signal?: AbortSignal): GrowingPoolBatches {
  const { what, imageShape } = settings;
  const { planned } = images;
  const iterator = images.batches[Symbol.asyncIterator]();
  const joined: SynthesizedBatch[] = [];
  let pool: ImagePool | undefined;

  const grow = async (needed: number, step: number): Promise<boolean> => {
    while (joined.length < needed) {
      const next = await iterator.next();
      if (next.done === true) {
        if (signal?.aborted === true) return false;
        throw new Error(
          `${what}: the arriving images ended after ${joined.length} of ${planned} planned batches; ` +
            'their source must yield every planned batch.',
        );
      }
      const batch = next.value;
      if (batch.shape[0] !== images.batchSize) {
        throw new Error(`${what}: arriving batch ${batch.index} holds ${batch.shape[0]} images, not the announced ${images.batchSize}.`);
      }
      joined.push(batch);
      // Rebuilt on every arrival: it indexes its segments without copying a pixel.
      pool = ImagePool.from(joined, `${what}: images`, imageShape);
      await settings.onPoolGrowth?.({ batch: batch.index, batches: joined.length, planned, step });
    }
    return true;
  };

  return {
    start: () => grow(batchesNeeded(0, settings.totalSteps, planned), 0),
    batch: async (epoch, k, random) => {
      const step = epoch * settings.stepsPerEpoch + k;
      await grow(batchesNeeded(step, settings.totalSteps, planned), step);
      const current = pool as ImagePool;
      const indices = sampleIndices(current.count, Math.min(settings.batchSize, current.count), random);
      const { images01 } = current.gather(indices);
      return { images01: cropFlip(images01, indices.length, imageShape, settings.augmentation, random), count: indices.length };
    },
  };
}

/** `k` distinct integers of [0, n), uniformly (Floyd's algorithm: k draws, no array of n). */
export function sampleIndices(n: number, k: number, random: Random): Int32Array {
  const chosen = new Set<number>();
  const out = new Int32Array(k);
  let at = 0;
  for (let j = n - k; j < n; j++) {
    const t = random.int(0, j);
    const pick = chosen.has(t) ? j : t;
    chosen.add(pick);
    out[at++] = pick;
  }
  return out;
}
