import type * as tf from '@tensorflow/tfjs-layers';

/** Per-channel input normalization a network was trained with: x_norm = (x01 - mean) / std. */
export interface InputNormalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** ImageNet statistics: the CIFAR ResNet-20..56 teachers in ../shared/models use these. */
export const IMAGENET_NORMALIZATION: InputNormalization = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** CIFAR-10 statistics: DAFL-style ResNet-34 teachers use these. */
export const CIFAR_NORMALIZATION: InputNormalization = {
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.2023, 0.1994, 0.201],
};

/**
 * A pre-trained classifier together with what a caller must not have to guess: its input
 * normalization, its number of classes and the feature taps its architecture suggests.
 */
export interface Teacher {
  /** A short identifier, e.g. `cifar10-resnet20`. */
  readonly name: string;
  /** NHWC input in the normalized space, logits out. */
  readonly model: tf.LayersModel;
  readonly normalization: InputNormalization;
  readonly numClasses: number;
  /** [height, width, channels] of one input image. */
  readonly inputShape: readonly [number, number, number];
  /** Layer names whose outputs feed a Feature Transfer Pyramid, deepest first. */
  readonly featureTaps: readonly string[];
}
