/**
 * CIFAR ResNet-18/34 as kuangliu/pytorch-cifar (also DAFL's teacher): 3x3 conv 64 stride 1, no
 * max pool, four stages of BasicBlocks (64, 128, 256, 512 planes; stride 1, 2, 2, 2) whose
 * shortcut is a 1x1 conv + BN (`layerN.M.shortcut.0` / `.shortcut.1`) when the shape changes,
 * then `F.avg_pool2d(out, 4)` and a Linear `linear`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { add, BuildContext, convBn, flattenLikePytorch, linear, relu, Sym } from './blocks';

export type ResNetDepth = 18 | 34;

/** BasicBlocks per stage. */
export function resNetBlocks(depth: ResNetDepth): readonly number[] {
  return depth === 18 ? [2, 2, 2, 2] : [3, 4, 6, 3];
}

/** Stage outputs, deepest first (ResNet-34: layer4.2, layer3.5, layer2.3, layer1.2). */
export function resNetTaps(depth: ResNetDepth): string[] {
  const blocks = resNetBlocks(depth);
  return [3, 2, 1, 0].map((s) => `layer${s + 1}.${blocks[s] - 1}`);
}

function basicBlock(ctx: BuildContext, x: Sym, name: string, inPlanes: number, planes: number, stride: number): Sym {
  let out = convBn(ctx, x, { name: `${name}.conv1`, bn: `${name}.bn1`, filters: planes, kernel: 3, stride, padding: 1, relu: true });
  out = convBn(ctx, out, { name: `${name}.conv2`, bn: `${name}.bn2`, filters: planes, kernel: 3, padding: 1 });
  const shortcut =
    stride !== 1 || inPlanes !== planes
      ? convBn(ctx, x, { name: `${name}.shortcut.0`, bn: `${name}.shortcut.1`, filters: planes, kernel: 1, stride })
      : x;
  return relu(add(out, shortcut, `${name}.add`), name);
}

/** Logits of a kuangliu CIFAR ResNet-18/34 applied to `input`. */
export function resNet(ctx: BuildContext, input: Sym, depth: ResNetDepth, numClasses: number): Sym {
  const blocks = resNetBlocks(depth);
  let x = convBn(ctx, input, { name: 'conv1', bn: 'bn1', filters: 64, kernel: 3, padding: 1, relu: true });
  let inPlanes = 64;
  [64, 128, 256, 512].forEach((planes, s) => {
    for (let i = 0; i < blocks[s]; i++) {
      const stride = i === 0 && s > 0 ? 2 : 1;
      x = basicBlock(ctx, x, `layer${s + 1}.${i}`, inPlanes, planes, stride);
      inPlanes = planes;
    }
  });
  const pooled = tfl.layers.averagePooling2d({ poolSize: 4, strides: 4, padding: 'valid', name: 'avgpool' }).apply(x) as Sym;
  return linear(ctx, flattenLikePytorch(pooled), 'linear', numClasses);
}
