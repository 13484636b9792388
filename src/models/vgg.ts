/**
 * VGG-11-BN and VGG-16-BN for CIFAR as kuangliu/pytorch-cifar `models/vgg.py`: `features` is
 * the nn.Sequential of [conv3x3 (with bias), BN, ReLU] per width and MaxPool2d(2) per 'M', so
 * layer names are `features.<index>`; then `out.view(B, -1)` and a single Linear(512, classes)
 * named `classifier`. (chenyaofo's variant has a three-layer classifier: not this one.)
 * kuangliu's trailing AvgPool2d(kernel_size=1) is the identity and is left out.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNorm, BuildContext, conv2d, flattenLikePytorch, linear, relu, Sym } from './blocks';

export type VggVariant = 'vgg11_bn' | 'vgg16_bn';

const CONFIGS: Record<VggVariant, ReadonlyArray<number | 'M'>> = {
  vgg11_bn: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg16_bn: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
};

/** The ReLU (`features.<i>`) before each max pool, deepest first (VGG-11: features.27 ... features.2). */
export function vggTaps(variant: VggVariant): string[] {
  const taps: string[] = [];
  let index = 0;
  for (const item of CONFIGS[variant]) {
    if (item === 'M') {
      taps.push(`features.${index - 1}`);
      index += 1;
    } else {
      index += 3;
    }
  }
  return taps.reverse();
}

/** Logits of a kuangliu VGG-BN applied to `input`. */
export function vgg(ctx: BuildContext, input: Sym, variant: VggVariant, numClasses: number): Sym {
  let x = input;
  let index = 0;
  for (const item of CONFIGS[variant]) {
    if (item === 'M') {
      x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `features.${index}` }).apply(x) as Sym;
      index += 1;
    } else {
      x = conv2d(ctx, x, { name: `features.${index}`, filters: item, kernel: 3, padding: 1, bias: true });
      x = batchNorm(x, `features.${index + 1}`);
      x = relu(x, `features.${index + 2}`);
      index += 3;
    }
  }
  return linear(ctx, flattenLikePytorch(x), 'classifier', numClasses);
}
