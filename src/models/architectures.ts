/** The zoo's architectures: one entry point that builds any of them with PyTorch names. */
import * as tfl from '@tensorflow/tfjs-layers';
import { BuildContext, InitScheme, Sym } from './blocks';
import { mobileNetV2, MOBILENETV2_TAPS } from './mobilenetv2';
import { resNet, resNetTaps } from './resnet';
import { cifarResNet, cifarResNetTaps } from './resnet-cifar';
import { CIFAR_NORMALIZATION, IMAGENET_NORMALIZATION, InputNormalization } from './teacher';
import { vgg, vggTaps } from './vgg';

/** Architectures {@link buildZooModel} can build. */
export type ZooArchitecture =
  'resnet20' | 'resnet32' | 'resnet44' | 'resnet56' | 'resnet18' | 'resnet34' | 'vgg11_bn' | 'vgg16_bn' | 'mobilenetv2';

/** What a caller needs to know about an architecture without building it. */
export interface ZooEntry {
  /** One line: the upstream definition this follows. */
  readonly description: string;
  /** Layer names of one output per stage, deepest first (for taps and the Feature Transfer Pyramid). */
  readonly featureTaps: readonly string[];
  /** Input normalization the architecture's usual pre-trained weights expect. */
  readonly normalization: InputNormalization;
  /** Name of the final Linear layer (its `.weight` tells the number of classes of a checkpoint). */
  readonly head: string;
}

/** How to build one architecture; kept out of the public metadata. */
interface Builder {
  /** Weight initialization of the upstream code. */
  readonly init: InitScheme;
  /** Logits from an NHWC input. */
  readonly build: (ctx: BuildContext, input: Sym, numClasses: number) => Sym;
}

const AKAMASTER = 'akamaster/pytorch_resnet_cifar10';
const KUANGLIU = 'kuangliu/pytorch-cifar';

function cifarResNetEntry(depth: 20 | 32 | 44 | 56): ZooEntry {
  return {
    description: `CIFAR ResNet-${depth} (${AKAMASTER}; option-A parameter-free shortcuts)`,
    featureTaps: cifarResNetTaps(depth),
    // The pre-trained akamaster weights in the shared models folder were trained with these.
    normalization: IMAGENET_NORMALIZATION,
    head: 'linear',
  };
}

/** Metadata of every zoo architecture. */
export const ZOO: Readonly<Record<ZooArchitecture, ZooEntry>> = {
  resnet20: cifarResNetEntry(20),
  resnet32: cifarResNetEntry(32),
  resnet44: cifarResNetEntry(44),
  resnet56: cifarResNetEntry(56),
  resnet18: {
    description: `CIFAR ResNet-18 (${KUANGLIU} / DAFL; 1x1 conv + BN shortcuts, no max pool)`,
    featureTaps: resNetTaps(18),
    normalization: CIFAR_NORMALIZATION,
    head: 'linear',
  },
  resnet34: {
    description: `CIFAR ResNet-34 (${KUANGLIU} / DAFL; 1x1 conv + BN shortcuts, no max pool)`,
    featureTaps: resNetTaps(34),
    normalization: CIFAR_NORMALIZATION,
    head: 'linear',
  },
  vgg11_bn: {
    description: `VGG-11 with BatchNorm for CIFAR (${KUANGLIU} models/vgg.py; single Linear classifier)`,
    featureTaps: vggTaps('vgg11_bn'),
    normalization: CIFAR_NORMALIZATION,
    head: 'classifier',
  },
  vgg16_bn: {
    description: `VGG-16 with BatchNorm for CIFAR (${KUANGLIU} models/vgg.py; single Linear classifier)`,
    featureTaps: vggTaps('vgg16_bn'),
    normalization: CIFAR_NORMALIZATION,
    head: 'classifier',
  },
  mobilenetv2: {
    description: `MobileNetV2 for CIFAR (${KUANGLIU} models/mobilenetv2.py; stride-1 stem and second stage)`,
    featureTaps: MOBILENETV2_TAPS,
    normalization: CIFAR_NORMALIZATION,
    head: 'linear',
  },
};

const CIFAR_RESNET: Builder['init'] = 'kaimingNormal';

const BUILDERS: Readonly<Record<ZooArchitecture, Builder>> = {
  resnet20: { init: CIFAR_RESNET, build: (ctx, input, n) => cifarResNet(ctx, input, 20, n) },
  resnet32: { init: CIFAR_RESNET, build: (ctx, input, n) => cifarResNet(ctx, input, 32, n) },
  resnet44: { init: CIFAR_RESNET, build: (ctx, input, n) => cifarResNet(ctx, input, 44, n) },
  resnet56: { init: CIFAR_RESNET, build: (ctx, input, n) => cifarResNet(ctx, input, 56, n) },
  resnet18: { init: 'pytorchDefault', build: (ctx, input, n) => resNet(ctx, input, 18, n) },
  resnet34: { init: 'pytorchDefault', build: (ctx, input, n) => resNet(ctx, input, 34, n) },
  vgg11_bn: { init: 'pytorchDefault', build: (ctx, input, n) => vgg(ctx, input, 'vgg11_bn', n) },
  vgg16_bn: { init: 'pytorchDefault', build: (ctx, input, n) => vgg(ctx, input, 'vgg16_bn', n) },
  mobilenetv2: { init: 'pytorchDefault', build: (ctx, input, n) => mobileNetV2(ctx, input, n) },
};

/** Every architecture name, in {@link ZOO} order. */
export const ZOO_ARCHITECTURES = Object.keys(ZOO) as ZooArchitecture[];

/** Options of {@link buildZooModel}. */
export interface BuildZooModelOptions {
  /** Output logits. Default 10. */
  numClasses?: number;
  /** [height, width, channels] of one NHWC input image. Default [32, 32, 3]. */
  inputShape?: readonly [number, number, number];
  /**
   * Seed of every initializer (each layer derives its own from it and its name), so two builds
   * with the same seed have identical weights. Default: unseeded.
   */
  seed?: number;
}

/** `arch` typed as a {@link ZooArchitecture} when it names one (a model folder's metadata may name any), else undefined. */
export function zooArchitectureOrUndefined(arch: string | undefined): ZooArchitecture | undefined {
  return arch !== undefined && Object.prototype.hasOwnProperty.call(ZOO, arch) ? (arch as ZooArchitecture) : undefined;
}

/** Throws unless `arch` is a {@link ZooArchitecture}; returns it typed. */
export function assertZooArchitecture(arch: string): ZooArchitecture {
  if (!Object.prototype.hasOwnProperty.call(ZOO, arch)) {
    throw new Error(`natinv: unknown architecture "${arch}"; the zoo has ${ZOO_ARCHITECTURES.join(', ')}.`);
  }
  return arch as ZooArchitecture;
}

function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`natinv: ${what} must be a positive integer, got ${value}.`);
}

/**
 * Builds a zoo architecture as a tfjs LayersModel (NHWC input named `input`, logits out) whose
 * layers carry their PyTorch module names, so {@link loadPytorchWeights} can fill it from a
 * PyTorch state_dict. Initialization follows the upstream code: kaiming-normal conv and linear
 * weights for the CIFAR ResNet-20..56 (akamaster), PyTorch's defaults for the others; BatchNorm
 * gamma 1, beta 0, moving mean 0, moving variance 1.
 *
 * @example
 * const model = buildZooModel('resnet20', { numClasses: 10, seed: 0 });
 */
export function buildZooModel(arch: ZooArchitecture, options: BuildZooModelOptions = {}): tfl.LayersModel {
  const builder = BUILDERS[assertZooArchitecture(arch)];
  const { numClasses = 10, inputShape = [32, 32, 3], seed } = options;
  assertPositiveInteger(numClasses, 'numClasses');
  if (inputShape.length !== 3) {
    throw new Error(`natinv: inputShape is [height, width, channels] (NHWC without the batch), got [${inputShape.join(', ')}].`);
  }
  inputShape.forEach((n) => assertPositiveInteger(n, `every entry of inputShape [${inputShape.join(', ')}]`));
  const input = tfl.input({ shape: [...inputShape], name: 'input' });
  const logits = builder.build({ seed, init: builder.init }, input, numClasses);
  return tfl.model({ inputs: input, outputs: logits, name: arch });
}
