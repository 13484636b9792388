import type * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from './teacher';

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * Throws unless `x` is a float32 NHWC image batch the teacher can take: rank 4, at least one
 * image, and height, width and channels equal to `teacher.inputShape`. The message names the
 * expected and the actual shape and suggests the likely fix (NCHW -> NHWC, a missing batch axis).
 *
 * @example
 * assertImageBatch(teacher, images); // before teacher.model.predict(images)
 */
export function assertImageBatch(teacher: Pick<Teacher, 'name' | 'inputShape'>, x: Pick<tf.Tensor, 'shape' | 'dtype'>): void {
  const [h, w, c] = teacher.inputShape;
  const shape = x.shape;
  const expected = `an NHWC image batch [B, ${h}, ${w}, ${c}]`;
  const fail = (hint: string): never => {
    throw new Error(`natinv: teacher "${teacher.name}" expects ${expected}, got ${fmt(shape)}${hint}`);
  };
  if (shape.length === 3 && shape[0] === h && shape[1] === w && shape[2] === c) {
    fail(': one image without the batch axis; add it with tf.expandDims(x, 0).');
  }
  if (shape.length !== 4) fail(` (rank ${shape.length}, must be 4).`);
  const [b, xh, xw, xc] = shape;
  if (xh === h && xw === w && xc === c) {
    if (b < 1) fail(': the batch is empty.');
    if (x.dtype !== 'float32') {
      fail(
        ` of dtype ${x.dtype}; images must be float32 in the teacher's normalized space (cast with tf.cast(x, 'float32') and normalize).`,
      );
    }
    return;
  }
  if (xh === c && xw === h && xc === w) {
    fail(': this looks like NCHW (PyTorch layout); transpose it with tf.transpose(x, [0, 2, 3, 1]).');
  }
  fail(`: resize or crop the images to ${h}x${w} with ${c} channels, in NHWC layout.`);
}
