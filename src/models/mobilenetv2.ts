/**
 * MobileNetV2 for CIFAR as kuangliu/pytorch-cifar `models/mobilenetv2.py`: conv1 3x3 stride 1,
 * the second stage at stride 1 (instead of 2) for 32x32 inputs, blocks
 * `layers.N.conv1/bn1` (1x1 expand), `conv2/bn2` (3x3 depthwise), `conv3/bn3` (1x1 project),
 * a 1x1 conv + BN shortcut `layers.N.shortcut.0/1` where a stride-1 block changes width; plain
 * ReLU (not ReLU6) and no activation after the residual sum; then conv2 1x1 1280, bn2, ReLU,
 * `F.avg_pool2d(out, 4)` and a Linear `linear`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { add, BuildContext, convBn, flattenLikePytorch, identity, linear, Sym } from './blocks';

/** (expansion, out planes, blocks, first stride), kuangliu's `cfg`. */
const CONFIG: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 1],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** One output per resolution, deepest first: 320@4, 96@8, 32@16, 24@32 for a 32x32 input. */
export const MOBILENETV2_TAPS: readonly string[] = ['layers.16', 'layers.12', 'layers.5', 'layers.2'];

function block(ctx: BuildContext, x: Sym, name: string, inPlanes: number, outPlanes: number, expansion: number, stride: number): Sym {
  const planes = expansion * inPlanes;
  let out = convBn(ctx, x, { name: `${name}.conv1`, bn: `${name}.bn1`, filters: planes, kernel: 1, relu: true });
  out = convBn(ctx, out, {
    name: `${name}.conv2`,
    bn: `${name}.bn2`,
    filters: planes,
    kernel: 3,
    stride,
    padding: 1,
    depthwise: true,
    relu: true,
  });
  out = convBn(ctx, out, { name: `${name}.conv3`, bn: `${name}.bn3`, filters: outPlanes, kernel: 1 });
  // The block's output carries the block's name whether or not there is a residual sum.
  if (stride !== 1) return identity(out, name);
  const shortcut =
    inPlanes !== outPlanes ? convBn(ctx, x, { name: `${name}.shortcut.0`, bn: `${name}.shortcut.1`, filters: outPlanes, kernel: 1 }) : x;
  return add(out, shortcut, name);
}

/** Logits of a kuangliu CIFAR MobileNetV2 applied to `input`. */
export function mobileNetV2(ctx: BuildContext, input: Sym, numClasses: number): Sym {
  let x = convBn(ctx, input, { name: 'conv1', bn: 'bn1', filters: 32, kernel: 3, padding: 1, relu: true });
  let inPlanes = 32;
  let index = 0;
  for (const [expansion, outPlanes, count, firstStride] of CONFIG) {
    for (let i = 0; i < count; i++) {
      x = block(ctx, x, `layers.${index}`, inPlanes, outPlanes, expansion, i === 0 ? firstStride : 1);
      inPlanes = outPlanes;
      index += 1;
    }
  }
  x = convBn(ctx, x, { name: 'conv2', bn: 'bn2', filters: 1280, kernel: 1, relu: true });
  const pooled = tfl.layers.averagePooling2d({ poolSize: 4, strides: 4, padding: 'valid', name: 'avgpool' }).apply(x) as Sym;
  return linear(ctx, flattenLikePytorch(pooled), 'linear', numClasses);
}
