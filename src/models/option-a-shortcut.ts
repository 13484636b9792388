/**
 * The custom layer natinv's CIFAR ResNets used for their option-A shortcut before they were built
 * from standard layers (see optionAShortcut in resnet-cifar.ts). Model folders saved then name it
 * `natinv>OptionAShortcut`; natinv's model-folder loader registers it on demand
 * ({@link registerLegacyLayers}) so they still load. Nothing registers it at import time, so
 * importing natinv has no side effects.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

// tfjs-layers' LayerArgs and Kwargs, without importing its internal dist/ paths (they do not
// resolve under moduleResolution nodenext).
type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Kwargs = Parameters<tfl.layers.Layer['call']>[1];

/** Constructor options of {@link OptionAShortcut}. */
export interface OptionAShortcutArgs extends LayerArgs {
  /** Zero channels added on each side of the channel axis (PyTorch: planes // 4). */
  padChannels: number;
}

/**
 * The parameter-free "option A" shortcut of He et al.'s CIFAR ResNets, as akamaster writes it:
 * `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))` (NCHW), here on NHWC input.
 *
 * tfjs has no gradient for stridedSlice, so `x[:, ::2, ::2]` is taken as reshape
 * [B*H/2, 2, W/2, 2*C] + slice of the first row and first C channels + reshape; an odd H or W is
 * first padded by one zero row/column at the end, which keeps PyTorch's ceil(H/2) positions.
 * Serialized as `natinv>OptionAShortcut`.
 */
export class OptionAShortcut extends tfl.layers.Layer {
  static readonly className = 'natinv>OptionAShortcut';
  readonly padChannels: number;

  constructor(args: OptionAShortcutArgs) {
    super(args);
    if (!Number.isInteger(args.padChannels) || args.padChannels < 0) {
      throw new Error(`OptionAShortcut: padChannels must be a non-negative integer, got ${args.padChannels}.`);
    }
    this.padChannels = args.padChannels;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const [b, h, w, c] = shape;
    const half = (n: number | null): number | null => (n == null ? null : Math.ceil(n / 2));
    return [b, half(h), half(w), c == null ? null : c + 2 * this.padChannels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x.rank !== 4) throw new Error(`OptionAShortcut expects NHWC input of rank 4, got shape [${x.shape.join(', ')}].`);
      const [b, h, w, c] = x.shape;
      let even: tf.Tensor = x;
      if (h % 2 === 1 || w % 2 === 1) {
        even = tf.pad(x, [
          [0, 0],
          [0, h % 2],
          [0, w % 2],
          [0, 0],
        ]);
      }
      const h2 = Math.ceil(h / 2);
      const w2 = Math.ceil(w / 2);
      const pairs = tf.reshape(even, [b * h2, 2, w2, 2 * c]);
      const picked = tf.slice(pairs, [0, 0, 0, 0], [b * h2, 1, w2, c]);
      const sub = tf.reshape(picked, [b, h2, w2, c]);
      const p = this.padChannels;
      return p === 0
        ? sub
        : tf.pad(sub, [
            [0, 0],
            [0, 0],
            [0, 0],
            [p, p],
          ]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), padChannels: this.padChannels };
  }
}

/** The custom layer classes model folders from earlier natinv versions may name. */
export const LEGACY_LAYER_CLASSES: readonly string[] = [OptionAShortcut.className];

/**
 * Registers the legacy layer classes with tfjs's serialization registry (idempotent), so
 * `tf.loadLayersModel` can read a model folder written before natinv used standard layers only.
 */
export function registerLegacyLayers(): void {
  // tfjs-layers does not re-export `serialization`; tfjs-core's registry is the one it reads.
  tf.serialization.registerClass(OptionAShortcut);
}
