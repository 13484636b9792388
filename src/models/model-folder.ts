/**
 * tfjs LayersModel folders (`model.json` + `weights.bin`, the format of `model.save('file://…')`)
 * read and written with plain Node file calls, so they work on the cpu and wasm backends too
 * (tfjs's `file://` handlers come only with tfjs-node). natinv keeps what a teacher needs besides
 * its weights (normalization, feature taps, class names) in model.json's `userDefinedMetadata`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { promises as fs } from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/files';
import { registerLegacyLayers } from './option-a-shortcut';
import type { InputNormalization, Teacher } from './teacher';

/** File names inside a model folder (the ones tfjs-node writes). */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** What natinv stores about a teacher in model.json (`userDefinedMetadata.natinv`). */
export interface TeacherMetadata {
  /** Identifier of the teacher, e.g. `cifar10_resnet20`. */
  readonly name: string;
  /** Zoo architecture the model was built from, when it was. */
  readonly arch?: string;
  readonly normalization: InputNormalization;
  /** Layer names feeding a Feature Transfer Pyramid, deepest first. */
  readonly featureTaps: readonly string[];
  /** Class name per output index, when known. */
  readonly classNames?: readonly string[];
}

/** A model folder read back. */
export interface LoadedModelFolder {
  readonly model: tfl.LayersModel;
  /** natinv's metadata, when the folder was written by natinv. */
  readonly metadata?: TeacherMetadata;
  /** The model.json file read. */
  readonly file: string;
}

/** `dir/model.json` for a folder, the path itself for a .json file. */
export function modelJsonPath(location: string): string {
  return location.toLowerCase().endsWith('.json') ? location : path.join(location, MODEL_JSON);
}

function joinWeights(data: tf.io.WeightData): ArrayBuffer {
  return tf.io.CompositeArrayBuffer.join(data);
}

/** Every weight of `model` as tfjs weight specs and one little-endian buffer, in `model.weights` order. */
async function encodeWeights(model: tfl.LayersModel): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: Uint8Array }> {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const weight of model.weights) {
    const values = await weight.read().data();
    // Copied into this module's own typed arrays (tf.io.encodeWeights rejects arrays from another realm, as under jest with tfjs-node).
    const copy = weight.dtype === 'int32' ? Int32Array.from(values as Int32Array) : Float32Array.from(values as Float32Array);
    specs.push({ name: weight.originalName, shape: [...weight.shape] as number[], dtype: weight.dtype === 'int32' ? 'int32' : 'float32' });
    chunks.push(new Uint8Array(copy.buffer));
  }
  const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.length;
  }
  return { specs, data };
}

/**
 * Saves `model` as `<folder>/model.json` + `<folder>/weights.bin` in the format of tfjs-node's
 * `model.save('file://<folder>')` (loadable with `tf.loadLayersModel`). Each file is written
 * atomically; the folder is created if needed.
 */
export async function saveModelFolder(
  model: tfl.LayersModel,
  folder: string,
  metadata?: TeacherMetadata,
): Promise<{ modelJson: string; weights: string }> {
  const modelJson = path.join(folder, MODEL_JSON);
  const weights = path.join(folder, WEIGHTS_BIN);
  const { specs, data } = await encodeWeights(model);
  const json = {
    modelTopology: model.toJSON(null, false),
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: 'natinv',
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
    ...(metadata === undefined ? {} : { userDefinedMetadata: { natinv: metadata } }),
  };
  await writeFileAtomic(weights, data);
  await writeFileAtomic(modelJson, new TextEncoder().encode(JSON.stringify(json)));
  return { modelJson, weights };
}

async function readFileOr(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (cause) {
    throw new Error(`cannot read ${what} ${file}: ${(cause as Error).message}`);
  }
}

function parseMetadata(value: unknown, file: string): TeacherMetadata | undefined {
  const natinv = (value as { natinv?: unknown } | undefined)?.natinv;
  if (natinv === undefined) return undefined;
  const m = natinv as Partial<TeacherMetadata>;
  const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (
    typeof m.name !== 'string' ||
    !numbers(m.normalization?.mean) ||
    !numbers(m.normalization?.std) ||
    !strings(m.featureTaps) ||
    (m.classNames !== undefined && !strings(m.classNames)) ||
    (m.arch !== undefined && typeof m.arch !== 'string')
  ) {
    throw new Error(
      `${file}: userDefinedMetadata.natinv is malformed (it needs name, normalization {mean, std}, featureTaps); ` +
        'fix it or delete the key and pass --mean/--std/--taps instead.',
    );
  }
  return m as TeacherMetadata;
}

/**
 * Loads a tfjs LayersModel from a folder holding model.json (or from the model.json path) and the
 * weight files its manifest lists. Errors name the file that is missing or malformed.
 */
export async function loadModelFolder(location: string): Promise<LoadedModelFolder> {
  const file = modelJsonPath(location);
  const dir = path.dirname(file);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse((await readFileOr(file, 'model file')).toString('utf8')) as tf.io.ModelJSON;
  } catch (cause) {
    if ((cause as Error).message.startsWith('cannot read')) throw cause;
    throw new Error(`${file} is not valid JSON (${(cause as Error).message}); it is not a tfjs model.json.`);
  }
  if (typeof json !== 'object' || json === null || json.modelTopology == null || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${file} has no modelTopology and weightsManifest; it is not a tfjs LayersModel model.json.`);
  }
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const name of group.paths) {
        const bytes = await readFileOr(path.join(dir, name), 'weights file');
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
    }
    return [specs, joinWeights(buffers)];
  });
  let model: tfl.LayersModel;
  try {
    // Folders from earlier versions may name natinv's old custom shortcut layer.
    registerLegacyLayers();
    model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (cause) {
    throw new Error(`cannot build the model in ${file}: ${(cause as Error).message}`);
  }
  return { model, metadata: parseMetadata(json.userDefinedMetadata, file), file };
}

/** A symbolic shape as the error messages write it: the unknown batch size is N, other unknown sizes ?. */
function symbolicShape(shape: ReadonlyArray<number | null>): string {
  return `[${shape.map((d, i) => (d != null ? d : i === 0 ? 'N' : '?')).join(', ')}]`;
}

/** A model folder read back as a {@link Teacher}. */
export interface LoadedTeacherFolder {
  readonly teacher: Teacher;
  /** natinv's metadata, when the folder was written by natinv (then the teacher's normalization and taps come from it). */
  readonly metadata?: TeacherMetadata;
  /** The model.json file read. */
  readonly file: string;
}

/**
 * Loads an image classifier saved as a tfjs model folder (by natinv's {@link saveTeacherFolder},
 * `natinv distill`/`prune`/`convert`, or tfjs's own `model.save`) as a frozen {@link Teacher}:
 * normalization, feature taps and name from natinv's metadata when present; otherwise the model is
 * taken to read [0, 1] pixels as they are, has no default taps, and is named after its folder.
 * Throws, naming the file, when the model is not a classifier (input [N, H, W, C], logits [N, classes]).
 */
export async function loadTeacherFolder(location: string): Promise<LoadedTeacherFolder> {
  const { model, metadata, file } = await loadModelFolder(location);
  model.trainable = false;
  const input = model.inputs[0].shape;
  const output = model.outputs[0].shape;
  if (input.length !== 4 || input.slice(1).some((d) => d == null) || output.length !== 2 || output[1] == null) {
    model.dispose();
    throw new Error(
      `${file}: natinv needs an image classifier (input [N, H, W, C], logits [N, classes]); this model ` +
        `takes ${symbolicShape(input)} and returns ${symbolicShape(output)}.`,
    );
  }
  const [, h, w, c] = input as number[];
  const teacher: Teacher = {
    name: metadata?.name ?? path.basename(path.dirname(path.resolve(file))),
    model,
    normalization: metadata?.normalization ?? { mean: new Array<number>(c).fill(0), std: new Array<number>(c).fill(1) },
    numClasses: output[1],
    inputShape: [h, w, c],
    featureTaps: metadata?.featureTaps ?? [],
  };
  return { teacher, metadata, file };
}

/**
 * Saves a teacher (or any classifier with its normalization, e.g. a distilled student) as a model
 * folder that {@link loadTeacherFolder} reads back as the same teacher. `extra` adds the zoo
 * architecture and class names to the metadata.
 */
export function saveTeacherFolder(
  teacher: Teacher,
  folder: string,
  extra: { readonly arch?: string; readonly classNames?: readonly string[] } = {},
): Promise<{ modelJson: string; weights: string }> {
  return saveModelFolder(teacher.model, folder, teacherMetadata(teacher, extra));
}

/** The metadata {@link saveTeacherFolder} writes for `teacher`, as plain JSON values. */
export function teacherMetadata(
  teacher: Pick<Teacher, 'name' | 'normalization' | 'featureTaps'>,
  extra: { readonly arch?: string; readonly classNames?: readonly string[] } = {},
): TeacherMetadata {
  return {
    name: teacher.name,
    ...(extra.arch !== undefined ? { arch: extra.arch } : {}),
    normalization: { mean: [...teacher.normalization.mean], std: [...teacher.normalization.std] },
    featureTaps: [...teacher.featureTaps],
    ...(extra.classNames !== undefined ? { classNames: [...extra.classNames] } : {}),
  };
}
