/**
 * Host-side image sets of the applications: the training pool (synthesized batches or one array,
 * kept as segments so a large pool is never copied), labelled evaluation sets, and the seeded
 * crop + flip augmentation applied to each minibatch before it becomes a tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { Random } from '../util/random';

/** Images in [0, 1] held on the host, e.g. what `readDataset` returns. */
export interface HostImages {
  /** NHWC in [0, 1], `count` images of `shape`. */
  readonly images01: Float32Array;
  readonly count: number;
  /** [count, height, width, channels]. */
  readonly shape: readonly [number, number, number, number];
  /** Target class per image (needed for target-label training, not for distillation). */
  readonly targets?: ArrayLike<number>;
}

/** What the applications train on: finished synthesized batches, or one host array. */
export type TrainingImages = readonly SynthesizedBatch[] | HostImages;

/**
 * A labelled evaluation (or training) set. Give exactly one of `images01` (NHWC in [0, 1]; the
 * model's normalization is applied) or `images` (a tensor already in the model's normalized
 * input space). Tensors are read, never disposed.
 */
export interface LabelledSet {
  /** NHWC in [0, 1]: a Float32Array (its height, width and channels are the model's) or a tensor. */
  readonly images01?: Float32Array | tf.Tensor4D;
  /** NHWC tensor already normalized for the model. */
  readonly images?: tf.Tensor4D;
  /** Class per image. */
  readonly labels: ArrayLike<number> | tf.Tensor1D;
}

interface Segment {
  readonly images01: Float32Array;
  readonly count: number;
  readonly targets?: Int32Array;
}

function isTensor(value: unknown): value is tf.Tensor {
  return value instanceof tf.Tensor;
}

/** Training images of several segments, addressed by one global index. */
export class ImagePool {
  readonly count: number;
  /** [height, width, channels]. */
  readonly imageShape: readonly [number, number, number];
  readonly imageSize: number;
  readonly hasTargets: boolean;
  private readonly segments: Segment[];
  private readonly segmentOf: Int32Array;
  private readonly offsetOf: Int32Array;

  private constructor(segments: Segment[], imageShape: [number, number, number]) {
    this.segments = segments;
    this.imageShape = imageShape;
    this.imageSize = imageShape[0] * imageShape[1] * imageShape[2];
    this.count = segments.reduce((n, s) => n + s.count, 0);
    this.hasTargets = segments.every((s) => s.targets != null);
    this.segmentOf = new Int32Array(this.count);
    this.offsetOf = new Int32Array(this.count);
    let at = 0;
    segments.forEach((s, k) => {
      for (let i = 0; i < s.count; i++, at++) {
        this.segmentOf[at] = k;
        this.offsetOf[at] = i;
      }
    });
  }

  /**
   * Checks and wraps `images` (no pixel is copied). `what` names the argument in errors;
   * `expectedShape` is the [height, width, channels] the models take.
   */
  static from(images: TrainingImages, what: string, expectedShape: readonly [number, number, number]): ImagePool {
    const parts: Array<{ name: string; images01: Float32Array; shape: readonly number[]; targets?: ArrayLike<number> }> = [];
    if (Array.isArray(images)) {
      (images as readonly SynthesizedBatch[]).forEach((b, i) =>
        parts.push({ name: `${what}[${i}] (batch ${b?.index})`, images01: b?.images01, shape: b?.shape, targets: b?.targets }),
      );
    } else if (images != null && (images as HostImages).images01 != null) {
      const h = images as HostImages;
      if (!Array.isArray(h.shape) || h.shape.length !== 4 || h.shape[0] !== h.count) {
        throw new Error(
          `${what}.shape must be [count, height, width, channels] with shape[0] = count (${h.count}), got [${h.shape?.join(', ')}].`,
        );
      }
      parts.push({ name: what, images01: h.images01, shape: h.shape, targets: h.targets });
    } else {
      throw new Error(
        `${what} must be an array of SynthesizedBatch (what the trainers yield) or { images01, count, shape[, targets] } ` +
          '(what readDataset returns).',
      );
    }
    const [eh, ew, ec] = expectedShape;
    const segments: Segment[] = [];
    for (const part of parts) {
      if (!(part.images01 instanceof Float32Array))
        throw new Error(`${part.name}: images01 must be a Float32Array of NHWC pixels in [0, 1].`);
      const [n, h, w, c] = part.shape ?? [];
      if (h !== eh || w !== ew || c !== ec) {
        throw new Error(`${part.name} holds ${h}x${w}x${c} images but the model takes ${eh}x${ew}x${ec} (height x width x channels).`);
      }
      if (!Number.isSafeInteger(n) || n * h * w * c !== part.images01.length) {
        throw new Error(
          `${part.name}: shape [${part.shape.join(', ')}] needs ${n * h * w * c} values, images01 has ${part.images01.length}.`,
        );
      }
      let targets: Int32Array | undefined;
      if (part.targets != null) {
        if (part.targets.length !== n) throw new Error(`${part.name}: ${part.targets.length} targets for ${n} images.`);
        targets = Int32Array.from(part.targets);
      }
      if (n > 0) segments.push({ images01: part.images01, count: n, targets });
    }
    const pool = new ImagePool(segments, [eh, ew, ec]);
    if (pool.count === 0) throw new Error(`${what} holds no images; synthesize some first.`);
    return pool;
  }

  /** Copies the images (and targets) at `indices` into fresh host arrays. */
  gather(indices: ArrayLike<number>): { images01: Float32Array; targets?: Int32Array } {
    const size = this.imageSize;
    const images01 = new Float32Array(indices.length * size);
    const targets = this.hasTargets ? new Int32Array(indices.length) : undefined;
    for (let i = 0; i < indices.length; i++) {
      const segment = this.segments[this.segmentOf[indices[i]]];
      const offset = this.offsetOf[indices[i]];
      images01.set(segment.images01.subarray(offset * size, (offset + 1) * size), i * size);
      if (targets != null) targets[i] = (segment.targets as Int32Array)[offset];
    }
    return { images01, targets };
  }

  /** Every target, in pool order (throws when the pool has none). */
  allTargets(what: string): Int32Array {
    if (!this.hasTargets) {
      throw new Error(`${what}: the images carry no targets; give SynthesizedBatch[] or { images01, count, shape, targets }.`);
    }
    const out = new Int32Array(this.count);
    let at = 0;
    for (const s of this.segments) {
      out.set(s.targets as Int32Array, at);
      at += s.count;
    }
    return out;
  }
}

/** Labels as int32, checked against the image count and the number of classes. */
export function labelsOf(labels: ArrayLike<number> | tf.Tensor1D, count: number, classes: number, what: string): Int32Array {
  const values = isTensor(labels) ? Int32Array.from(labels.dataSync()) : Int32Array.from(labels);
  if (values.length !== count) throw new Error(`${what}: ${values.length} labels for ${count} images.`);
  const bad = values.findIndex((l) => !(l >= 0 && l < classes));
  if (bad >= 0)
    throw new Error(`${what}: label ${values[bad]} at index ${bad} is not a class of a ${classes}-class model (0..${classes - 1}).`);
  return values;
}

/** A labelled set resolved to one form; `kind` says whether the pixels still need normalizing. */
export interface ResolvedLabelled {
  readonly kind: 'images01' | 'normalized';
  /** Host pixels (images01 only). */
  readonly host?: Float32Array;
  /** Tensor pixels (either kind); owned by the caller. */
  readonly tensor?: tf.Tensor4D;
  readonly count: number;
  readonly labels: Int32Array;
}

/** Checks a {@link LabelledSet} against the model's input shape and class count. */
export function resolveLabelled(
  data: LabelledSet,
  imageShape: readonly [number, number, number],
  classes: number,
  what: string,
): ResolvedLabelled {
  if (data == null || typeof data !== 'object') throw new Error(`${what} must be { images01 | images, labels }.`);
  const has01 = data.images01 != null;
  const hasNormalized = data.images != null;
  if (has01 === hasNormalized) {
    throw new Error(`${what}: give exactly one of images01 (NHWC in [0, 1]) or images (a tensor in the model's normalized input space).`);
  }
  const [h, w, c] = imageShape;
  const size = h * w * c;
  let count: number;
  let host: Float32Array | undefined;
  let tensor: tf.Tensor4D | undefined;
  if (hasNormalized) {
    if (!isTensor(data.images)) {
      throw new Error(
        `${what}.images must be a normalized tf.Tensor4D; give host pixels in [0, 1] as images01 ` +
          '(for a CifarSet: { images01: set.images, labels: set.labels }).',
      );
    }
    tensor = data.images;
  } else if (isTensor(data.images01)) {
    tensor = data.images01;
  } else if (data.images01 instanceof Float32Array) {
    host = data.images01;
    if (host.length % size !== 0)
      throw new Error(`${what}.images01 has ${host.length} values, not a whole number of ${h}x${w}x${c} images.`);
  } else {
    throw new Error(`${what}.images01 must be a Float32Array or a tf.Tensor4D of NHWC pixels in [0, 1].`);
  }
  if (tensor != null) {
    const [, th, tw, tc] = tensor.shape;
    if (tensor.rank !== 4 || th !== h || tw !== w || tc !== c) {
      throw new Error(`${what}: images of shape [${tensor.shape.join(', ')}] do not fit a model taking [N, ${h}, ${w}, ${c}] (NHWC).`);
    }
    count = tensor.shape[0];
  } else {
    count = (host as Float32Array).length / size;
  }
  if (count === 0) throw new Error(`${what} holds no images.`);
  const labels = labelsOf(data.labels, count, classes, `${what}.labels`);
  return { kind: hasNormalized ? 'normalized' : 'images01', host, tensor, count, labels };
}

/** Random crop after zero padding + horizontal flip, per image, as torchvision's CIFAR recipe. */
export interface CropFlipOptions {
  /** Zero padding on each side before the random crop back to the original size (pixels). Default 4; 0 = no crop. */
  readonly padding?: number;
  /** Flip each image horizontally with probability 0.5. Default true. */
  readonly flip?: boolean;
}

/**
 * RandomCrop(size, padding) then RandomHorizontalFlip, each image drawn independently from
 * `random`, on NHWC pixels in [0, 1] (padding is black, as torchvision pads before normalizing).
 */
export function cropFlip(
  images01: Float32Array,
  count: number,
  shape: readonly [number, number, number],
  options: CropFlipOptions,
  random: Random,
): Float32Array {
  const pad = options.padding ?? 4;
  const doFlip = options.flip ?? true;
  if (pad === 0 && !doFlip) return images01;
  const [h, w, c] = shape;
  const size = h * w * c;
  const out = new Float32Array(images01.length);
  for (let n = 0; n < count; n++) {
    const dy = pad > 0 ? random.int(0, 2 * pad) - pad : 0;
    const dx = pad > 0 ? random.int(0, 2 * pad) - pad : 0;
    const flipped = doFlip && random.next() < 0.5;
    const base = n * size;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < w; x++) {
        const sx = (flipped ? w - 1 - x : x) + dx;
        if (sx < 0 || sx >= w) continue;
        const from = base + (sy * w + sx) * c;
        const to = base + (y * w + x) * c;
        for (let k = 0; k < c; k++) out[to + k] = images01[from + k];
      }
    }
  }
  return out;
}

/** Checks crop/flip options (false = no augmentation). */
export function resolveCropFlip(options: CropFlipOptions | false | undefined, what: string): CropFlipOptions {
  if (options === false) return { padding: 0, flip: false };
  const padding = options?.padding ?? 4;
  if (!Number.isSafeInteger(padding) || padding < 0) throw new Error(`${what}.padding must be a non-negative integer, got ${padding}.`);
  return { padding, flip: options?.flip ?? true };
}

/** A seeded Fisher-Yates permutation of 0..count-1. */
export function permutation(count: number, random: Random): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = random.int(0, i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
