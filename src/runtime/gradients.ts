import * as tf from '@tensorflow/tfjs-core';

/**
 * Ops natinv differentiates through. tfjs-core's CommonJS bundle registers no gradients; the
 * `@tensorflow/tfjs` umbrella and tfjs-node do.
 */
const REQUIRED_GRADIENTS = ['Conv2D', 'Sum', 'Multiply', 'Relu', 'FusedBatchNorm', 'Reshape'];

/** Throws a clear error when gradients were never registered with this tfjs instance. */
export function assertGradientsRegistered(): void {
  const missing = REQUIRED_GRADIENTS.filter((op) => tf.getGradient(op) == null);
  if (missing.length > 0) {
    throw new Error(
      `natinv: tfjs has no gradients registered for ${missing.join(', ')}. ` +
        `Import '@tensorflow/tfjs' (or '@tensorflow/tfjs-node') once before using natinv; ` +
        `'@tensorflow/tfjs-core' alone registers no gradients.`,
    );
  }
}
