import type * as tf from '@tensorflow/tfjs-core';

/** Parameters optimized together, with one optimizer and one learning rate. */
export interface VariableGroup {
  /** `pixels`, `generator`, `ftp`, `alpha`, ... (shown in progress and manifests). */
  readonly name: string;
  readonly variables: readonly tf.Variable[];
  /** Learning rate this group's optimizer starts from. */
  readonly learningRate: number;
}

/** What the synthesis loop hands a source each time it renders images. */
export interface RenderContext {
  /**
   * This step's random augmentation (jitter/flip). The identity when the loop re-renders the
   * kept best image without augmentation. Sources that augment internally (NaturalInversion
   * augments the generator output before the teacher's feature taps) call it; others ignore it.
   */
  augment(images: tf.Tensor4D): tf.Tensor4D;
  /**
   * The teacher's feature maps at the named taps for `images`, one per name in the order of
   * `taps` (the source's own list, so position is safe here), computed without gradient
   * (the caller owns the returned tensors; call inside tf.tidy).
   */
  teacherFeatures(images: tf.Tensor4D, taps: readonly string[]): tf.Tensor4D[];
}

/**
 * What is optimized: a parametrization of a batch of images in the teacher's normalized input
 * space (NHWC). The loop differentiates the objective with respect to `groups` only.
 */
export interface ImageSource {
  readonly name: string;
  readonly batchSize: number;
  readonly groups: readonly VariableGroup[];
  /**
   * Class targets the source is conditioned on (NaturalInversion's generator), one per image.
   * When present, the loop must use them as the cross-entropy targets. Absent for sources that
   * take their targets from the loop (pixels).
   */
  readonly labels?: Int32Array;
  /** Renders the batch (NHWC, normalized space). Called inside the loop's gradient closure. */
  render(context: RenderContext): tf.Tensor4D;
  /** Releases every variable and tensor the source holds. */
  dispose(): void;
}
