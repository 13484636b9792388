/**
 * CIFAR ResNet-20/32/44/56 exactly as akamaster/pytorch_resnet_cifar10 (He et al. 2016, sec 4.2):
 * 3x3 conv 16 -> three stages of n BasicBlocks (16, 32, 64 planes; stride 1, 2, 2) with the
 * parameter-free option-A shortcut -> global average pool -> Linear `linear`; depth = 6n + 2.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { add, BuildContext, convBn, linear, relu, Sym } from './blocks';

/** Depths akamaster ships pre-trained weights for. */
export type CifarResNetDepth = 20 | 32 | 44 | 56;

/** BasicBlocks per stage: (depth - 2) / 6. */
export function cifarResNetBlocks(depth: CifarResNetDepth): number {
  return (depth - 2) / 6;
}

/** Stage outputs, deepest first: `layer3.<n-1>`, `layer2.<n-1>`, `layer1.<n-1>`. */
export function cifarResNetTaps(depth: CifarResNetDepth): string[] {
  const last = cifarResNetBlocks(depth) - 1;
  return [3, 2, 1].map((stage) => `layer${stage}.${last}`);
}

/**
 * The parameter-free "option A" shortcut as akamaster writes it, `F.pad(x[:, :, ::2, ::2], (0, 0,
 * 0, 0, p, p))` (NCHW), in standard layers only, so a saved model loads with plain
 * `tf.loadLayersModel` (and in Keras): a 1x1 average pool of stride 2 is exactly `x[:, ::2, ::2]`
 * (ceil(H/2) positions, as PyTorch keeps), and the channels are zero-padded on both sides by moving
 * them to a spatial axis (Permute), ZeroPadding2D, and moving them back. No weights.
 */
export function optionAShortcut(x: Sym, padChannels: number, name: string): Sym {
  let y = tfl.layers.averagePooling2d({ poolSize: 1, strides: 2, padding: 'valid', name: `${name}.subsample` }).apply(x) as Sym;
  y = tfl.layers.permute({ dims: [3, 1, 2], name: `${name}.channels_first` }).apply(y) as Sym;
  y = tfl.layers
    .zeroPadding2d({
      padding: [
        [padChannels, padChannels],
        [0, 0],
      ],
      name: `${name}.pad`,
    })
    .apply(y) as Sym;
  return tfl.layers.permute({ dims: [2, 3, 1], name }).apply(y) as Sym;
}

function basicBlockA(ctx: BuildContext, x: Sym, name: string, inPlanes: number, planes: number, stride: number): Sym {
  let out = convBn(ctx, x, { name: `${name}.conv1`, bn: `${name}.bn1`, filters: planes, kernel: 3, stride, padding: 1, relu: true });
  out = convBn(ctx, out, { name: `${name}.conv2`, bn: `${name}.bn2`, filters: planes, kernel: 3, padding: 1 });
  const shortcut = stride !== 1 || inPlanes !== planes ? optionAShortcut(x, Math.floor(planes / 4), `${name}.shortcut`) : x;
  return relu(add(out, shortcut, `${name}.add`), name);
}

/** Logits of a CIFAR ResNet of the given depth applied to `input`. */
export function cifarResNet(ctx: BuildContext, input: Sym, depth: CifarResNetDepth, numClasses: number): Sym {
  const n = cifarResNetBlocks(depth);
  let x = convBn(ctx, input, { name: 'conv1', bn: 'bn1', filters: 16, kernel: 3, padding: 1, relu: true });
  let inPlanes = 16;
  [16, 32, 64].forEach((planes, s) => {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 && s > 0 ? 2 : 1;
      x = basicBlockA(ctx, x, `layer${s + 1}.${i}`, inPlanes, planes, stride);
      inPlanes = planes;
    }
  });
  // F.avg_pool2d(out, out.size()[3]) on a square map is a global average.
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as Sym;
  return linear(ctx, pooled, 'linear', numClasses);
}
