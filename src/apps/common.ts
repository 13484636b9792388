/** Shared checks and small helpers of the applications. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputNormalization, Teacher } from '../models/teacher';

/** A classifier the applications accept: a tfjs LayersModel (NHWC in, logits out) or a natinv {@link Teacher}. */
export type Classifier = tfl.LayersModel | Teacher;

/** True when `value` is a {@link Teacher} rather than a bare LayersModel. */
export function isTeacher(value: Classifier): value is Teacher {
  const candidate = value as Partial<Teacher>;
  return candidate != null && candidate.normalization !== undefined && candidate.model !== undefined;
}

/** The LayersModel behind a {@link Classifier}; `what` names the argument in the error. */
export function modelOfClassifier(value: Classifier, what: string): tfl.LayersModel {
  const model = value != null && isTeacher(value) ? value.model : value;
  if (model == null || typeof model.getLayer !== 'function' || typeof model.apply !== 'function') {
    throw new Error(`${what} must be a tfjs LayersModel or a natinv Teacher, got ${model === null ? 'null' : typeof model}.`);
  }
  return model;
}

/**
 * The input normalization to use for `value`: `explicit` when given, else the Teacher's, else
 * `fallback`; throws naming `what` when none is known.
 */
export function resolveNormalization(
  what: string,
  explicit: InputNormalization | undefined,
  ...candidates: Array<Classifier | undefined>
): InputNormalization {
  const normalization = explicit ?? candidates.find((c): c is Teacher => c != null && isTeacher(c))?.normalization;
  if (normalization == null) {
    throw new Error(
      `${what}: options.normalization is required when no natinv Teacher is given: the model needs to know how images in [0, 1] ` +
        'map to its inputs. Pass teacher.normalization, IMAGENET_NORMALIZATION or CIFAR_NORMALIZATION.',
    );
  }
  const { mean, std } = normalization;
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== std.length || mean.length === 0 || std.some((s) => !(s > 0))) {
    throw new Error(`${what}: normalization needs mean and std arrays of equal length with every std > 0.`);
  }
  return normalization;
}

/** [height, width, channels] a model takes; throws when a dimension is unknown. */
export function modelInputShape(model: tfl.LayersModel, what: string): [number, number, number] {
  const shape = model.inputs[0]?.shape;
  if (shape == null || shape.length !== 4 || shape.slice(1).some((d) => d == null)) {
    throw new Error(
      `${what}: model '${model.name}' must take a full NHWC input shape [N, height, width, channels], got [${shape?.join(', ')}].`,
    );
  }
  return [shape[1] as number, shape[2] as number, shape[3] as number];
}

/** Number of outputs (logits) of a classifier. */
export function modelClasses(model: tfl.LayersModel, what: string): number {
  const shape = model.outputs[0]?.shape;
  const classes = shape?.[shape.length - 1];
  if (model.outputs.length !== 1 || shape == null || shape.length !== 2 || classes == null) {
    throw new Error(
      `${what}: model '${model.name}' must have one output of logits [N, classes], got ${model.outputs.length} output(s) of shape [${shape?.join(', ')}].`,
    );
  }
  return classes;
}

export function checkPositiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${value}.`);
  return value;
}

export function checkNonNegativeNumber(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new Error(`${what} must be a finite number >= 0, got ${value}.`);
  return value;
}

export function checkPositiveNumber(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new Error(`${what} must be a finite number > 0, got ${value}.`);
  return value;
}

/** The tf.Variables behind a model's trainable weights, in model order. */
export function trainableVariables(model: tfl.LayersModel, what: string): tf.Variable[] {
  const variables = model.trainableWeights.map((w) => w.read());
  if (variables.length === 0) {
    throw new Error(
      `${what}: model '${model.name}' has no trainable weights (a loaded teacher is frozen); ` +
        'train a copy, or set model.trainable = true if you really mean to change it.',
    );
  }
  variables.forEach((v) => {
    if (!(v instanceof tf.Variable)) throw new Error(`${what}: a trainable weight of model '${model.name}' is not a tf.Variable.`);
  });
  return variables as tf.Variable[];
}

/** Throws when two models share a weight: training one would silently change the other. */
export function assertSeparateModels(a: tfl.LayersModel, aName: string, b: tfl.LayersModel, bName: string, what: string): void {
  if (a === b) throw new Error(`${what}: the ${aName} and the ${bName} are the same model; give the ${aName} its own copy.`);
  const ids = new Set(b.weights.map((w) => w.read().id));
  const shared = a.weights.find((w) => ids.has(w.read().id));
  if (shared != null) {
    throw new Error(`${what}: the ${aName} and the ${bName} share the weight '${shared.name}'; build the ${aName} as a separate model.`);
  }
}

/** Throws unless the student takes the teacher's images and gives its classes; returns the shared input shape. */
export function checkStudentFitsTeacher(student: tfl.LayersModel, teacher: tfl.LayersModel, what: string): [number, number, number] {
  const shape = modelInputShape(student, `${what}: student`);
  const teacherShape = modelInputShape(teacher, `${what}: teacher`);
  if (shape.some((d, i) => d !== teacherShape[i])) {
    throw new Error(
      `${what}: the student takes ${shape.join('x')} images but the teacher ${teacherShape.join('x')}; they must see the same images.`,
    );
  }
  const classes = modelClasses(student, `${what}: student`);
  const teacherClasses = modelClasses(teacher, `${what}: teacher`);
  if (classes !== teacherClasses) {
    throw new Error(
      `${what}: the student has ${classes} outputs but the teacher ${teacherClasses}; give the student the teacher's classes.`,
    );
  }
  return shape;
}
