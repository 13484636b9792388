import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { evaluate } from '../src/metrics/accuracy';
import type { Network } from '../src/metrics/batches';
import { classProbabilities, topOne } from '../src/metrics/predictions';
import type { InputNormalization } from '../src/models/teacher';
import { normalize } from '../src/synthesis/batch';
import type { SynthesizedBatch } from '../src/synthesis/batch';
import { Random } from '../src/util/random';

/**
 * Fixtures of the application tests: structured 8x8 images in [0, 1] and a tiny BatchNorm
 * classifier, so whole training runs take a second on the pure-JS cpu backend.
 */

/** Images whose class decides a colour and the direction of a gradient, plus noise. */
export function toyImages(count: number, numClasses: number, seed: number, size = 8): { images01: Float32Array; labels: Int32Array } {
  const random = new Random(seed);
  const images01 = new Float32Array(count * size * size * 3);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const label = n % numClasses;
    labels[n] = label;
    const angle = (2 * Math.PI * label) / numClasses;
    const colour = [0, 1, 2].map((c) => 0.5 + 0.35 * Math.cos(angle + (2 * Math.PI * c) / 3));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const ramp = ((x - size / 2) * Math.cos(angle) + (y - size / 2) * Math.sin(angle)) / size;
        for (let c = 0; c < 3; c++) {
          const v = colour[c] + 0.3 * ramp + 0.15 * (random.next() - 0.5);
          images01[((n * size + y) * size + x) * 3 + c] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return { images01, labels };
}

/** Host images cut into SynthesizedBatch records, as the trainers yield them. */
export function asBatches(images01: Float32Array, targets: Int32Array, batchSize: number, size = 8): SynthesizedBatch[] {
  const count = targets.length;
  const imageSize = size * size * 3;
  const batches: SynthesizedBatch[] = [];
  for (let start = 0, index = 0; start < count; start += batchSize, index++) {
    const n = Math.min(batchSize, count - start);
    batches.push({
      index,
      method: 'fixture',
      seed: 0,
      teacher: 'fixture',
      shape: [n, size, size, 3],
      // The identity normalization: the unclipped images are the [0, 1] images.
      images: images01.slice(start * imageSize, (start + n) * imageSize),
      normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
      images01: images01.slice(start * imageSize, (start + n) * imageSize),
      targets: targets.slice(start, start + n),
      confidence: new Float32Array(n),
      predictions: new Int32Array(n),
      loss: 0,
      terms: {},
      steps: 0,
    });
  }
  return batches;
}

/** conv(widths[0]) -> BN -> ReLU -> conv(widths[1], stride 2) -> BN -> ReLU -> global pool -> Linear, on 8x8 RGB. */
export function tinyNet(options: { seed: number; numClasses?: number; widths?: [number, number]; name?: string }): tfl.LayersModel {
  const { seed, numClasses = 4, widths = [6, 8] } = options;
  const input = tfl.input({ shape: [8, 8, 3], name: 'input' });
  let x = tfl.layers
    .conv2d({
      filters: widths[0],
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      name: 'conv1',
      kernelInitializer: tfl.initializers.heNormal({ seed }),
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1', epsilon: 1e-5, momentum: 0.9 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'relu1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .conv2d({
      filters: widths[1],
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: 'conv2',
      kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn2', epsilon: 1e-5, momentum: 0.9 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'relu2' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({ units: numClasses, name: 'linear', kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 2 }) })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: options.name ?? 'tiny' });
}

function normalized(images01: Float32Array, normalization: InputNormalization): tf.Tensor4D {
  return tf.tidy(() => normalize(tf.tensor4d(images01, [images01.length / 192, 8, 8, 3]), normalization));
}

/** Top-1 accuracy (the metrics' evaluate) on 8x8 pixels in [0, 1]. */
export async function accuracy01(
  model: Network,
  images01: Float32Array,
  labels: ArrayLike<number>,
  normalization: InputNormalization,
): Promise<number> {
  const images = normalized(images01, normalization);
  try {
    return (await evaluate(model, { images, labels })).accuracy;
  } finally {
    images.dispose();
  }
}

/** Top-1 classes on 8x8 pixels in [0, 1]. */
export async function predictions01(model: Network, images01: Float32Array, normalization: InputNormalization): Promise<Int32Array> {
  const images = normalized(images01, normalization);
  try {
    return topOne(await classProbabilities(model, images));
  } finally {
    images.dispose();
  }
}
