/** loadTeacher from files and the bundled teachers (Node only; exported by natinv/node). */
import * as path from 'path';
import { readSafetensorsFile } from '../io/files';
import { findAsset } from './assets';
import type { Teacher } from './teacher';
import {
  BUNDLED_TEACHERS,
  BundledTeacherName,
  loadTeacher as loadTeacherFromBytes,
  LoadTeacherOptions,
  teacherFromSafetensors,
} from './zoo';

/**
 * {@link loadTeacher} of the platform-neutral entry that also reads `weights` from a file path;
 * the name defaults to the file name without `.safetensors`.
 *
 * @example
 * const teacher = await loadTeacher({ arch: 'resnet56', weights: 'cifar10_resnet56.safetensors' });
 */
export async function loadTeacher(options: LoadTeacherOptions): Promise<Teacher> {
  if (typeof options.weights !== 'string') return loadTeacherFromBytes(options);
  const file = options.weights;
  const name = options.name ?? path.basename(file).replace(/\.safetensors$/, '');
  return teacherFromSafetensors(await readSafetensorsFile(file), { ...options, name }, file);
}
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
