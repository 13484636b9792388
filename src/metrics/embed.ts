/** Pooled features of one layer of a network, for the Fréchet distance and precision/recall. */
import * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from '../models/teacher';
import { tapNetwork } from '../taps';
import { checkBatchSize, DEFAULT_METRICS_BATCH_SIZE, forEachChunk, ImageBatches, modelOf, Network } from './batches';
import type { Features } from './features';

/** Options of {@link embedFeatures}. */
export interface EmbedFeaturesOptions {
  /**
   * The layer whose output is the feature (a name `tapNetwork(model).layerNames` lists, e.g.
   * 'layer3.8' for the last stage of a CIFAR ResNet-56). Default for a {@link Teacher}: its
   * deepest feature tap (`teacher.featureTaps[0]`); required for a bare LayersModel.
   */
  readonly layer?: string;
  /** Images per forward pass. Default 256. */
  readonly batchSize?: number;
  /** Dispose each tensor an iterator yields once it is used. Default true (a tensor given directly is never disposed). */
  readonly disposeBatches?: boolean;
}

/**
 * Runs `images` (NHWC, in the network's normalized input space) through `network` in inference
 * mode and returns the output of `options.layer` per image, on the host: a rank-4 output
 * [N, H, W, C] is global-average-pooled over H and W to C values, a rank-2 output [N, D] is kept
 * as is. Batched; leaves no tensors behind.
 *
 * @example
 * const verifier = await loadTeacher({ arch: 'resnet56', weights: 'cifar10_resnet56.safetensors' });
 * const features = await embedFeatures(verifier, normalize(images01, verifier.normalization), { layer: 'layer3.8' });
 * // features.count x features.dimension = N x 64
 */
export async function embedFeatures(network: Network, images: ImageBatches, options: EmbedFeaturesOptions = {}): Promise<Features> {
  const model = modelOf(network, 'embedFeatures');
  const taps = (network as Partial<Teacher>).featureTaps;
  const layer = options.layer ?? (model !== network && taps !== undefined && taps.length > 0 ? taps[0] : undefined);
  if (layer === undefined) {
    throw new Error(
      `embedFeatures: options.layer is required for a bare LayersModel; name the layer to pool, one of ` +
        `${tapNetwork(model).layerNames.join(', ')}.`,
    );
  }
  const batchSize = checkBatchSize(options.batchSize ?? DEFAULT_METRICS_BATCH_SIZE, 'embedFeatures');
  const tapped = tapNetwork(model);
  tapped.layer(layer); // throws naming the available layers
  const chunks: Float32Array[] = [];
  let dimension = -1;
  await forEachChunk(images, batchSize, 'embedFeatures', options.disposeBatches ?? true, async (chunk) => {
    const pooled = tf.tidy(() => {
      const { logits, features } = tapped.forward(chunk, { features: [layer] });
      logits.dispose();
      const output = features.get(layer);
      if (output.rank === 4) return tf.mean(output, [1, 2]);
      if (output.rank === 2) return output;
      throw new Error(
        `embedFeatures: layer '${layer}' outputs rank ${output.rank} [${output.shape.join(', ')}]; ` +
          'pick a layer with an NHWC (rank 4, pooled) or a flat (rank 2) output.',
      );
    });
    try {
      dimension = pooled.shape[1] as number;
      chunks.push((await pooled.data()) as Float32Array);
    } finally {
      pooled.dispose();
    }
  });
  const count = chunks.reduce((n, c) => n + c.length, 0) / Math.max(dimension, 1);
  if (count === 0) throw new Error('embedFeatures: no images were given.');
  const data = new Float32Array(count * dimension);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return { data, count, dimension };
}
