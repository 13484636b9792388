/**
 * A regularizer of your own next to the built-in terms: feature diversity, the mean cosine
 * similarity between the teacher's pooled `layer3.2` features of different images in the batch
 * (lower = more varied images). It is added to DeepInversion's objective through `extraTerms`
 * and reported every step like `ce`, `bn` and `tv`.
 * Run: see examples/README.md. In your own project, import from 'natinv/node' instead of '../src/node'.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CIFAR10_CLASSES, deepInversion, loadBundledTeacher, Objective, useBackend, writeBatch } from '../src/node';

/** Mean cosine similarity between the pooled features of every pair of different images. */
function featureDiversity(layer: string): Objective {
  return {
    name: 'diversity',
    requires: { features: [layer] },
    evaluate: ({ teacher }) => {
      const pooled = tf.mean(teacher.features.get(layer), [1, 2]) as tf.Tensor2D; // [B, C]
      const count = pooled.shape[0];
      if (count < 2) throw new Error('featureDiversity compares images with each other: use a batch of at least 2.');
      // sqrt(x + eps) rather than tf.norm, whose gradient is NaN at exactly 0.
      const length = tf.sqrt(tf.add(tf.sum(tf.square(pooled), -1, true), 1e-8));
      const unit = tf.div(pooled, length);
      const similarity = tf.matMul(unit, unit, false, true); // [B, B], ones on the diagonal
      const offDiagonal = tf.sub(tf.sum(similarity), tf.sum(tf.mul(similarity, tf.eye(count))));
      return tf.div(offDiagonal, count * (count - 1)) as tf.Scalar;
    },
  };
}

async function main(out = process.argv[2] ?? 'natinv-out/custom-regularizer'): Promise<void> {
  await useBackend(); // NATINV_BACKEND: cpu (default), wasm or tensorflow
  const teacher = await loadBundledTeacher('cifar10-resnet20');
  const batches = deepInversion(teacher, {
    batchSize: 4,
    steps: 5, // tiny, to run anywhere; DeepInversion's paper setting is 2000
    extraTerms: [[0.5, featureDiversity('layer3.2')]],
    onStep: ({ step, terms }) => console.log(`step ${step}: diversity ${terms.diversity.toFixed(3)}, bn ${terms.bn.toFixed(1)}`),
  });
  for await (const batch of batches) {
    const { grid } = await writeBatch(out, batch, { classNames: CIFAR10_CLASSES });
    console.log(`batch ${batch.index}: ${JSON.stringify(batch.terms)} -> ${grid}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
