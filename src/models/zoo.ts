/**
 * Ready-to-use teachers: a zoo architecture filled with PyTorch weights from safetensors bytes.
 * Platform-neutral; natinv/node's loadTeacher also reads file paths (zoo-files.ts).
 */
import type { SafetensorsFile } from '../io/safetensors';
import { parseSafetensors } from '../io/safetensors';
import { assertZooArchitecture, buildZooModel, ZOO, ZooArchitecture } from './architectures';
import { loadPytorchWeights, WeightsMismatchError } from './pytorch-weights';
import { IMAGENET_NORMALIZATION, InputNormalization, Teacher } from './teacher';

/** Options of {@link loadTeacher}. */
export interface LoadTeacherOptions {
  arch: ZooArchitecture;
  /**
   * A PyTorch state_dict saved as safetensors: the file's bytes, or a file path with natinv/node's
   * loadTeacher. In a browser: `new Uint8Array(await (await fetch(url)).arrayBuffer())`.
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

function parseWeights(weights: string | Uint8Array, arch: string): SafetensorsFile {
  if (typeof weights === 'string') {
    throw new Error(
      `natinv: loadTeacher got the path ${weights}, but the platform-neutral 'natinv' reads bytes only: ` +
        `import loadTeacher from 'natinv/node' to read files, or pass the file's bytes (Uint8Array).`,
    );
  }
  if (weights instanceof Uint8Array) return parseSafetensors(weights, { source: `(bytes given for ${arch})` });
  throw new Error(`natinv: loadTeacher's weights must be the safetensors file's bytes (Uint8Array), got ${typeof weights}.`);
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
 * const weights = new Uint8Array(await (await fetch('cifar10_resnet56.safetensors')).arrayBuffer());
 * const teacher = await loadTeacher({ arch: 'resnet56', weights });
 */
export async function loadTeacher(options: LoadTeacherOptions): Promise<Teacher> {
  return teacherFromSafetensors(parseWeights(options.weights, options.arch), options);
}

/** loadTeacher's work once the safetensors file is parsed; `source` names it in errors. */
export function teacherFromSafetensors(file: SafetensorsFile, options: LoadTeacherOptions, source?: string): Teacher {
  const arch = assertZooArchitecture(options.arch);
  const entry = ZOO[arch];
  const head = file.tensors[`${entry.head}.weight`];
  const numClasses = options.numClasses ?? (head !== undefined && head.shape.length === 2 ? head.shape[0] : 10);
  const inputShape = options.inputShape ?? [32, 32, 3];
  const model = buildZooModel(arch, { numClasses, inputShape });
  try {
    loadPytorchWeights(model, file.tensors, { strict: options.strict ?? true });
  } catch (cause) {
    model.dispose();
    const where = source == null ? '' : ` from ${source}`;
    // The cause names natinv already; one prefix is enough.
    const prefix = `natinv: cannot load ${arch} weights${where}: `;
    if (cause instanceof WeightsMismatchError)
      throw new WeightsMismatchError(prefix + cause.problem.replace(/^natinv: /, ''), cause.strict);
    throw new Error(prefix + (cause as Error).message.replace(/^natinv: /, ''));
  }
  model.trainable = false;
  return {
    name: options.name ?? arch,
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
