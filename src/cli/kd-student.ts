/**
 * The student of `natinv distill` and of its data-free loop: a fresh zoo network (--student-arch)
 * or a tfjs model folder (--student), checked against the teacher before any training, and what
 * the saved folder says about it.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { buildZooModel, ZOO, ZooArchitecture, zooArchitectureOrUndefined } from '../models/architectures';
import { loadModelFolder, modelJsonPath, teacherMetadata } from '../models/model-folder';
import type { InputNormalization, Teacher } from '../models/teacher';
import { deriveSeed } from '../util/random';
import { Options, UsageError } from './args';

/** The student network and what the saved folder should say about it. */
export interface Student {
  readonly model: tfl.LayersModel;
  /** For notes: `resnet20 (fresh, seed 0)`, `tfjs model s/model.json`. */
  readonly description: string;
  readonly arch?: ZooArchitecture;
  /** The student's own input normalization (a model folder's metadata); default the teacher's. */
  readonly normalization?: InputNormalization;
  readonly featureTaps: readonly string[];
}

/** What the saved student folder says about the model: its name, architecture, normalization, taps and classes. */
export function studentFolderMetadata(teacher: Teacher, student: Student, classNames: readonly string[] | undefined) {
  return teacherMetadata(
    {
      name: `${teacher.name}-kd-${student.arch ?? student.model.name}`,
      normalization: student.normalization ?? teacher.normalization,
      featureTaps: student.featureTaps,
    },
    { arch: student.arch, classNames },
  );
}

/**
 * The student the options ask for: a fresh --student-arch (default resnet20), or the model.json of
 * a --student folder (checked), not both.
 */
export function chooseStudent(
  options: Options,
  cwd: string,
  command: string,
): { arch: ZooArchitecture; studentFolder: string | undefined } {
  const arch = (options.string('student-arch') ?? 'resnet20') as ZooArchitecture;
  const studentText = options.string('student');
  if (studentText !== undefined && options.has('student-arch')) {
    throw new UsageError(
      `${command}: give the student either as --student (a tfjs model folder) or as --student-arch (a fresh zoo network), not both.`,
    );
  }
  return { arch, studentFolder: studentText === undefined ? undefined : checkStudentFolder(studentText, cwd, command) };
}

/** Usage errors for a --student that does not exist or is not a tfjs model; returns the model.json path. */
function checkStudentFolder(text: string, cwd: string, command: string): string {
  const location = path.resolve(cwd, text);
  if (!fs.existsSync(location)) throw new UsageError(`${command}: --student ${location} does not exist.`);
  const json = modelJsonPath(location);
  if (fs.statSync(location).isDirectory() ? !fs.existsSync(json) : !location.toLowerCase().endsWith('.json')) {
    throw new UsageError(`${command}: --student ${text} is not a tfjs model folder (model.json + weights.bin) or model.json.`);
  }
  return json;
}

/** Usage error naming a layer that would have no pixels left for images of `shape`. */
function checkNoEmptyLayer(model: tfl.LayersModel, shape: readonly number[], what: string, command: string): void {
  for (const layer of model.layers) {
    const outputs = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as Array<Array<number | null>>;
    if (outputs.some((s) => s.some((d) => d === 0))) {
      throw new UsageError(
        `${command}: ${what} cannot take ${shape.join('x')} images: its layer '${layer.name}' shrinks them to nothing; ` +
          'use an architecture for images this small (resnet20..56) or a dataset of larger images.',
      );
    }
  }
}

/** A fresh zoo student with the teacher's classes and input size, initialised from the seed. */
export function freshStudent(arch: ZooArchitecture, teacher: Teacher, seed: number, command: string): Student {
  let model: tfl.LayersModel;
  try {
    model = buildZooModel(arch, { numClasses: teacher.numClasses, inputShape: teacher.inputShape, seed: deriveSeed(seed, 'student') });
  } catch (cause) {
    throw new Error(`cannot build a ${arch} student for ${teacher.inputShape.join('x')} images: ${(cause as Error).message}`);
  }
  try {
    checkNoEmptyLayer(model, teacher.inputShape, `--student-arch ${arch}`, command);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, description: `a fresh ${arch} (seed ${seed})`, arch, featureTaps: ZOO[arch].featureTaps };
}

/** A student from a tfjs model folder; usage errors when it does not fit the teacher. */
export async function loadStudent(file: string, teacher: Teacher, command: string): Promise<Student> {
  const { model, metadata } = await loadModelFolder(file);
  try {
    const input = model.inputs[0].shape;
    const output = model.outputs[0].shape;
    const [th, tw, tc] = teacher.inputShape;
    if (model.inputs.length !== 1 || input.length !== 4 || input[1] !== th || input[2] !== tw || input[3] !== tc) {
      throw new UsageError(
        `${command}: --student ${file} takes [${input.slice(1).join(', ')}] inputs but the teacher's images are ${th}x${tw}x${tc}.`,
      );
    }
    if (model.outputs.length !== 1 || output.length !== 2 || output[1] !== teacher.numClasses) {
      throw new UsageError(
        `${command}: --student ${file} gives [${output.slice(1).join(', ')}] outputs but the teacher has ${teacher.numClasses} classes.`,
      );
    }
  } catch (error) {
    model.dispose();
    throw error;
  }
  model.trainable = true;
  const arch = zooArchitectureOrUndefined(metadata?.arch);
  return {
    model,
    description: `tfjs model ${file}`,
    arch,
    normalization: metadata?.normalization,
    featureTaps: metadata?.featureTaps ?? [],
  };
}
