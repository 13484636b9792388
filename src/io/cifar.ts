/**
 * The CIFAR binary layout: fixed-size records of label byte(s) then 3072 pixel bytes (planes
 * R, G, B, each 32x32 row-major). Pure; files.ts reads (and gunzips) the files.
 */
import * as tf from '@tensorflow/tfjs-core';

export type CifarLayout = 'cifar10' | 'cifar100';

/** Options of {@link parseCifar}. */
export interface CifarOptions {
  /** `cifar10`: 1 label byte per record; `cifar100`: a coarse then a fine label byte. */
  layout: CifarLayout;
  /** Which CIFAR-100 label to return (ignored for cifar10). Default `fine`. */
  labels?: 'fine' | 'coarse';
  /** Decode at most this many records from the start. Default: all. */
  limit?: number;
  /** Where the bytes came from (a file path), quoted in errors. Default: none. */
  source?: string;
}

/** Decoded CIFAR images with their labels. */
export interface CifarSet {
  /** NHWC [count, 32, 32, 3], values in [0, 1]. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  height: 32;
  width: 32;
  channels: 3;
}

const PIXELS = 32 * 32;

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const IMAGE_BYTES = 3 * PIXELS;

/** Bytes of one record in each layout. */
export const CIFAR_RECORD_BYTES: Record<CifarLayout, number> = { cifar10: 1 + IMAGE_BYTES, cifar100: 2 + IMAGE_BYTES };

/** Class names by label, CIFAR-10. */
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

/** CIFAR-100 fine class names by label. */
export const CIFAR100_FINE_CLASSES: readonly string[] = [
  'apple',
  'aquarium_fish',
  'baby',
  'bear',
  'beaver',
  'bed',
  'bee',
  'beetle',
  'bicycle',
  'bottle',
  'bowl',
  'boy',
  'bridge',
  'bus',
  'butterfly',
  'camel',
  'can',
  'castle',
  'caterpillar',
  'cattle',
  'chair',
  'chimpanzee',
  'clock',
  'cloud',
  'cockroach',
  'couch',
  'crab',
  'crocodile',
  'cup',
  'dinosaur',
  'dolphin',
  'elephant',
  'flatfish',
  'forest',
  'fox',
  'girl',
  'hamster',
  'house',
  'kangaroo',
  'keyboard',
  'lamp',
  'lawn_mower',
  'leopard',
  'lion',
  'lizard',
  'lobster',
  'man',
  'maple_tree',
  'motorcycle',
  'mountain',
  'mouse',
  'mushroom',
  'oak_tree',
  'orange',
  'orchid',
  'otter',
  'palm_tree',
  'pear',
  'pickup_truck',
  'pine_tree',
  'plain',
  'plate',
  'poppy',
  'porcupine',
  'possum',
  'rabbit',
  'raccoon',
  'ray',
  'road',
  'rocket',
  'rose',
  'sea',
  'seal',
  'shark',
  'shrew',
  'skunk',
  'skyscraper',
  'snail',
  'snake',
  'spider',
  'squirrel',
  'streetcar',
  'sunflower',
  'sweet_pepper',
  'table',
  'tank',
  'telephone',
  'television',
  'tiger',
  'tractor',
  'train',
  'trout',
  'tulip',
  'turtle',
  'wardrobe',
  'whale',
  'willow_tree',
  'wolf',
  'woman',
  'worm',
];

/** CIFAR-100 coarse (superclass) names by label. */
export const CIFAR100_COARSE_CLASSES: readonly string[] = [
  'aquatic_mammals',
  'fish',
  'flowers',
  'food_containers',
  'fruit_and_vegetables',
  'household_electrical_devices',
  'household_furniture',
  'insects',
  'large_carnivores',
  'large_man-made_outdoor_things',
  'large_natural_outdoor_scenes',
  'large_omnivores_and_herbivores',
  'medium_mammals',
  'non-insect_invertebrates',
  'people',
  'reptiles',
  'small_mammals',
  'trees',
  'vehicles_1',
  'vehicles_2',
];

/**
 * Decodes CIFAR binary records (already gunzipped) into NHWC float images in [0, 1] and int32
 * labels. Throws when the byte length is not a whole number of records of `options.layout` or a
 * label is out of range (both usually mean the wrong layout).
 */
export function parseCifar(bytes: Uint8Array, options: CifarOptions): CifarSet {
  const { layout, labels: which = 'fine', limit } = options;
  const where = options.source !== undefined ? `CIFAR file ${options.source}` : 'CIFAR data';
  const recordBytes = CIFAR_RECORD_BYTES[layout];
  if (recordBytes === undefined) {
    throw new Error(`${where}: layout ${JSON.stringify(layout)} is not one of cifar10, cifar100.`);
  }
  if (which !== 'fine' && which !== 'coarse') {
    throw new Error(`${where}: labels ${JSON.stringify(which)} is not one of fine, coarse.`);
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new Error(`${where}: limit must be a non-negative integer, got ${limit}.`);
  }
  const remainder = bytes.length % recordBytes;
  if (remainder !== 0) {
    const other = layout === 'cifar10' ? 'cifar100' : 'cifar10';
    throw new Error(
      `${where}: ${bytes.length} bytes is not a whole number of ${layout} records (${recordBytes} bytes each): ` +
        `${plural(Math.floor(bytes.length / recordBytes), 'record')} and ${plural(remainder, 'byte')} left over. ` +
        `The file is truncated, still compressed, or in the ${other} layout (${CIFAR_RECORD_BYTES[other]} bytes per record).`,
    );
  }
  const total = bytes.length / recordBytes;
  const count = limit === undefined ? total : Math.min(limit, total);

  // Both label bytes are checked for cifar100: an out-of-range one means the layout is wrong.
  const labelChecks: Array<{ name: string; offset: number; classes: number }> =
    layout === 'cifar10'
      ? [{ name: 'label', offset: 0, classes: 10 }]
      : [
          { name: 'coarse label', offset: 0, classes: 20 },
          { name: 'fine label', offset: 1, classes: 100 },
        ];
  const labelOffset = layout === 'cifar10' || which === 'coarse' ? 0 : 1;
  const headerBytes = recordBytes - IMAGE_BYTES;

  const images = new Float32Array(count * IMAGE_BYTES);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const record = n * recordBytes;
    for (const check of labelChecks) {
      const value = bytes[record + check.offset];
      if (value >= check.classes) {
        throw new Error(
          `${where}: record ${n} has ${check.name} ${value}, outside 0..${check.classes - 1}; ` +
            `the data is not in the ${layout} layout or is corrupt.`,
        );
      }
    }
    labels[n] = bytes[record + labelOffset];
    // Planar RGB -> interleaved HWC.
    const pixels = record + headerBytes;
    const out = n * IMAGE_BYTES;
    for (let p = 0; p < PIXELS; p++) {
      images[out + 3 * p] = bytes[pixels + p] / 255;
      images[out + 3 * p + 1] = bytes[pixels + PIXELS + p] / 255;
      images[out + 3 * p + 2] = bytes[pixels + 2 * PIXELS + p] / 255;
    }
  }
  return { images, labels, count, height: 32, width: 32, channels: 3 };
}

/**
 * Records [start, end) of `set` as tensors: images [end - start, 32, 32, 3] float32 in [0, 1] and
 * int32 labels. The data is copied; the caller owns (and disposes) both tensors.
 */
export function cifarBatch(set: CifarSet, start: number, end: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= set.count)) {
    throw new Error(`cifarBatch: range [${start}, ${end}) is not within the set's ${set.count} records (0 <= start <= end <= count).`);
  }
  const size = IMAGE_BYTES;
  const images = tf.tensor4d(set.images.slice(start * size, end * size), [end - start, 32, 32, 3], 'float32');
  const labels = tf.tensor1d(set.labels.slice(start, end), 'int32');
  return { images, labels };
}
