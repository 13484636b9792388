/** Per-epoch evaluation of a model being trained, through the metrics' class probabilities. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { classProbabilities, topOne } from '../metrics/predictions';
import type { InputNormalization } from '../models/teacher';
import { normalize } from '../synthesis/batch';
import type { ResolvedLabelled } from './images';

/** Normalized chunks of host pixels, each disposed by its consumer. */
function* normalizedChunks(
  host: Float32Array,
  count: number,
  shape: readonly [number, number, number],
  normalization: InputNormalization,
  batchSize: number,
) {
  const [h, w, c] = shape;
  const size = h * w * c;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    yield tf.tidy(() => normalize(tf.tensor4d(host.subarray(start * size, (start + n) * size), [n, h, w, c]), normalization));
  }
}

/** The model's top-1 class per image of a resolved set, in inference mode; leaves no tensors behind. */
export async function predictTestSet(
  model: tfl.LayersModel,
  data: ResolvedLabelled,
  shape: readonly [number, number, number],
  normalization: InputNormalization,
  batchSize: number,
): Promise<Int32Array> {
  if (data.kind === 'normalized') return topOne(await classProbabilities(model, data.tensor as tf.Tensor4D, { batchSize }));
  if (data.host != null)
    return topOne(await classProbabilities(model, normalizedChunks(data.host, data.count, shape, normalization, batchSize), { batchSize }));
  const images = tf.tidy(() => normalize(data.tensor as tf.Tensor4D, normalization));
  try {
    return topOne(await classProbabilities(model, images, { batchSize }));
  } finally {
    images.dispose();
  }
}
