/** Ready-to-use teachers: a zoo architecture filled with PyTorch weights from safetensors. */
import type { SafetensorsFile } from '../io/safetensors';
import { parseSafetensors } from '../io/safetensors';
import { assertZooArchitecture, buildZooModel, ZOO, ZooArchitecture } from './architectures';
import { findAsset } from './assets';
import { loadPytorchWeights } from './pytorch-weights';
import { IMAGENET_NORMALIZATION, InputNormalization, Teacher } from './teacher';

/** Options of {@link loadTeacher}. */
export interface LoadTeacherOptions {
  arch: ZooArchitecture;
  /**
   * A PyTorch state_dict saved as safetensors: a file path (Node only) or the file's bytes.
   * In Python: `from safetensors.torch import save_file; save_file(model.state_dict(), 'w.safetensors')`.
   */
  weights: string | Uint8Array;
  /** Input normalization the weights were trained with. Default `ZOO[arch].normalization`. */
  normalization?: InputNormalization;
  /** Number of classes. Default: the rows of the checkpoint's head weight (`linear` / `classifier`). */
  numClasses?: number;
  /** [height, width, channels] of one input. Default [32, 32, 3]. */
  inputShape?: readonly [number, number, number];
  /** Identifier of the teacher. Default: the file name without extension, or `arch` for bytes. */
  name?: string;
  /** Passed to loadPytorchWeights: fail on missing or unexpected tensors. Default true. */
  strict?: boolean;
}

async function readWeights(weights: string | Uint8Array, arch: string): Promise<SafetensorsFile> {
  if (typeof weights === 'string') {
    const { readSafetensorsFile } = await import('../io/files');
    return readSafetensorsFile(weights);
  }
  if (weights instanceof Uint8Array) return parseSafetensors(weights, { source: `(bytes given for ${arch})` });
  throw new Error(`natinv: loadTeacher's weights must be a safetensors file path or its bytes (Uint8Array), got ${typeof weights}.`);
}

async function defaultName(weights: string | Uint8Array, arch: string): Promise<string> {
  if (typeof weights !== 'string') return arch;
  const path = await import('path');
  return path.basename(weights).replace(/\.safetensors$/, '');
}

/**
 * Builds a zoo architecture and fills it with PyTorch weights from a safetensors file. The
 * returned teacher is frozen (`model.trainable = false`), so an optimizer without a var list
 * never updates it; always call it in inference mode (`training: false`, the default of predict
 * and apply), or its BatchNorm moving statistics would be overwritten.
 *
 * Throws when the file cannot be read or parsed (naming the file) and when its tensors do not fit
 * the architecture (listing every missing, unexpected and mis-shaped tensor).
 *
 * @example
 * const teacher = await loadTeacher({ arch: 'resnet56', weights: 'cifar10_resnet56.safetensors' });
 */
export async function loadTeacher(options: LoadTeacherOptions): Promise<Teacher> {
  const arch = assertZooArchitecture(options.arch);
  const entry = ZOO[arch];
  const file = await readWeights(options.weights, arch);
  const head = file.tensors[`${entry.head}.weight`];
  const numClasses = options.numClasses ?? (head !== undefined && head.shape.length === 2 ? head.shape[0] : 10);
  const inputShape = options.inputShape ?? [32, 32, 3];
  const model = buildZooModel(arch, { numClasses, inputShape });
  try {
    loadPytorchWeights(model, file.tensors, { strict: options.strict ?? true });
  } catch (cause) {
    model.dispose();
    const where = typeof options.weights === 'string' ? ` from ${options.weights}` : '';
    throw new Error(`natinv: cannot load ${arch} weights${where}: ${(cause as Error).message}`);
  }
  model.trainable = false;
  return {
    name: options.name ?? (await defaultName(options.weights, arch)),
    model,
    normalization: options.normalization ?? entry.normalization,
    numClasses,
    inputShape: [inputShape[0], inputShape[1], inputShape[2]],
    featureTaps: entry.featureTaps,
  };
}

/** Teachers whose weights ship with the package (in its `assets/` folder). */
export type BundledTeacherName = 'cifar10-resnet20';

/** What each bundled teacher is. */
export interface BundledTeacherInfo {
  readonly file: string;
  readonly arch: ZooArchitecture;
  readonly numClasses: number;
  readonly normalization: InputNormalization;
  /** Provenance and license of the weights (the notice is assets/LICENSE.txt). */
  readonly license: string;
}

export const BUNDLED_TEACHERS: Readonly<Record<BundledTeacherName, BundledTeacherInfo>> = {
  'cifar10-resnet20': {
    file: 'cifar10_resnet20.safetensors',
    arch: 'resnet20',
    numClasses: 10,
    normalization: IMAGENET_NORMALIZATION,
    license: 'BSD-2-Clause, (c) 2018 Yerlan Idelbayev (akamaster/pytorch_resnet_cifar10); see assets/LICENSE.txt',
  },
};

/** Options of {@link loadBundledTeacher}. */
export interface LoadBundledTeacherOptions {
  /** Folder holding the shipped assets. Default: natinv's own `assets/` (found from the package.json). */
  assetsDir?: string;
}

/**
 * Loads a teacher whose weights ship with natinv (Node only). `cifar10-resnet20`: akamaster's
 * CIFAR-10 ResNet-20, ImageNet normalization, 91.64 % on the first 1,017 CIFAR-10 test images.
 *
 * @example
 * const teacher = await loadBundledTeacher('cifar10-resnet20');
 */
export async function loadBundledTeacher(name: BundledTeacherName, options: LoadBundledTeacherOptions = {}): Promise<Teacher> {
  if (!Object.prototype.hasOwnProperty.call(BUNDLED_TEACHERS, name)) {
    throw new Error(`natinv: no bundled teacher "${name}"; bundled: ${Object.keys(BUNDLED_TEACHERS).join(', ')}.`);
  }
  const info = BUNDLED_TEACHERS[name];
  const weights = await findAsset(info.file, { assetsDir: options.assetsDir });
  return loadTeacher({ arch: info.arch, weights, numClasses: info.numClasses, normalization: info.normalization, name });
}
