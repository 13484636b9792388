/**
 * PyTorch state_dict <-> tfjs LayersModel, matched by layer name: a layer named `layer1.0.conv1`
 * takes `layer1.0.conv1.weight` (and `.bias`). Layouts are converted on the way:
 * Conv2D OIHW <-> HWIO, DepthwiseConv2D [C*M, 1, kh, kw] <-> [kh, kw, C, M], Dense [out, in] <->
 * [in, out], BatchNormalization weight/bias/running_mean/running_var <-> gamma/beta/moving mean/
 * moving variance.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TensorData } from '../io/safetensors';
import { inversePermutation, transposeData } from './layout';

/** A PyTorch tensor given to {@link loadPytorchWeights}: a tf.Tensor or plain data (e.g. a parsed safetensors entry). */
export type PytorchTensor = tf.Tensor | TensorData;

/** Tensors PyTorch keeps in a state_dict that have no tfjs counterpart. */
export const DEFAULT_IGNORED_TENSORS: readonly RegExp[] = [/(^|\.)num_batches_tracked$/];

/** Options of {@link loadPytorchWeights}. */
export interface LoadPytorchWeightsOptions {
  /**
   * Fail when a model weight has no tensor or a tensor matches no weight. Default true. Wrong
   * shapes always fail. With false, missing weights keep their current values.
   */
  strict?: boolean;
  /** Tensor names to skip. Default {@link DEFAULT_IGNORED_TENSORS} (`num_batches_tracked`). */
  ignore?: readonly RegExp[];
}

/** Options of {@link exportPytorchWeights}. */
export interface ExportPytorchWeightsOptions {
  /**
   * Add an int32 scalar `<bn>.num_batches_tracked` = 0 per BatchNorm layer, so that PyTorch's
   * `load_state_dict(strict=True)` finds every buffer it expects. Default false.
   */
  numBatchesTracked?: boolean;
}

/** How one tfjs weight is stored in PyTorch. */
interface Mapping {
  /** PyTorch tensor name. */
  readonly key: string;
  readonly variable: tfl.LayerVariable;
  /** PyTorch shape of this weight. */
  readonly pytorchShape: number[];
  /**
   * PyTorch data viewed with `viewShape` (same order, maybe split axes), axes permuted by `perm`,
   * gives the tfjs layout. Absent: the layouts are identical.
   */
  readonly layout?: { readonly viewShape: number[]; readonly perm: number[] };
}

/** The weight's role inside its layer: the part of its name after the last '/'. */
function role(variable: tfl.LayerVariable): string {
  const name = variable.originalName;
  return name.slice(name.lastIndexOf('/') + 1);
}

function mappingsOf(layer: tfl.layers.Layer): Mapping[] {
  const cls = layer.getClassName();
  const name = layer.name;
  return layer.weights.map((variable): Mapping => {
    const r = role(variable);
    const shape = variable.shape as number[];
    if (r === 'bias' && (cls === 'Conv2D' || cls === 'DepthwiseConv2D' || cls === 'Dense')) {
      return { key: `${name}.bias`, variable, pytorchShape: shape };
    }
    if (cls === 'Conv2D' && r === 'kernel') {
      const [kh, kw, cin, cout] = shape;
      return {
        key: `${name}.weight`,
        variable,
        pytorchShape: [cout, cin, kh, kw],
        layout: { viewShape: [cout, cin, kh, kw], perm: [2, 3, 1, 0] },
      };
    }
    if (cls === 'DepthwiseConv2D' && r === 'depthwise_kernel') {
      // PyTorch groups=C: output channel c*M + m comes from input channel c, as in tfjs.
      const [kh, kw, c, m] = shape;
      return {
        key: `${name}.weight`,
        variable,
        pytorchShape: [c * m, 1, kh, kw],
        layout: { viewShape: [c, m, kh, kw], perm: [2, 3, 0, 1] },
      };
    }
    if (cls === 'Dense' && r === 'kernel') {
      const [nin, nout] = shape;
      return { key: `${name}.weight`, variable, pytorchShape: [nout, nin], layout: { viewShape: [nout, nin], perm: [1, 0] } };
    }
    if (cls === 'BatchNormalization') {
      const suffix = { gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' }[r];
      if (suffix !== undefined) return { key: `${name}.${suffix}`, variable, pytorchShape: shape };
    }
    throw new Error(
      `natinv: layer "${name}" (${cls}) has a weight "${variable.originalName}" with no PyTorch counterpart; ` +
        `Conv2D, DepthwiseConv2D, Dense and BatchNormalization are supported.`,
    );
  });
}

/** PyTorch-layout data -> tfjs-layout data (a fresh array: backends may keep it without copying). */
function toTfjsData(m: Mapping, data: Float32Array): Float32Array {
  return m.layout === undefined ? new Float32Array(data) : transposeData(data, m.layout.viewShape, m.layout.perm);
}

/** tfjs-layout data -> PyTorch-layout data (a fresh array). */
function toPytorchData(m: Mapping, data: Float32Array): Float32Array {
  if (m.layout === undefined) return new Float32Array(data);
  const { viewShape, perm } = m.layout;
  return transposeData(
    data,
    perm.map((axis) => viewShape[axis]),
    inversePermutation(perm),
  );
}

function modelMappings(model: tfl.LayersModel): Mapping[] {
  const mappings = model.layers.flatMap((layer) => mappingsOf(layer));
  const seen = new Set<string>();
  for (const m of mappings) {
    if (seen.has(m.key))
      throw new Error(`natinv: two weights of model "${model.name}" map to the PyTorch name ${m.key}; layer names must be unique.`);
    seen.add(m.key);
  }
  return mappings;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function isTensor(value: PytorchTensor): value is tf.Tensor {
  return value instanceof tf.Tensor;
}

/** Checks a plain-data tensor's consistency; returns a problem or undefined. */
function dataProblem(key: string, value: TensorData): string | undefined {
  if (!Array.isArray(value.shape) || !(value.data instanceof Float32Array || value.data instanceof Int32Array)) {
    return `${key}: not a tensor (expected a tf.Tensor or { shape: number[], data: Float32Array })`;
  }
  const size = value.shape.reduce((a, b) => a * b, 1);
  if (size !== value.data.length) return `${key}: shape ${fmt(value.shape)} needs ${size} values, the data has ${value.data.length}`;
  return undefined;
}

/** float32 data in PyTorch layout; a tf.Tensor given by the caller is read, never disposed. */
function asFloatData(value: PytorchTensor): Float32Array {
  if (isTensor(value)) return value.dtype === 'float32' ? (value.dataSync() as Float32Array) : Float32Array.from(value.dataSync());
  return value.data instanceof Float32Array ? value.data : Float32Array.from(value.data);
}

// A checkpoint for another depth differs in hundreds of tensors; a few names say enough.
const LISTED_PER_KIND = 3;

function summarize(list: readonly string[]): string {
  const shown = list.slice(0, LISTED_PER_KIND).join('; ');
  return list.length > LISTED_PER_KIND ? `${shown}; and ${list.length - LISTED_PER_KIND} more` : shown;
}

/**
 * Which ResNet a state_dict's names describe, from its BasicBlocks per stage (`layerS.B.conv1`):
 * three stages of n blocks are CIFAR ResNet-(6n+2), four of [2,2,2,2] / [3,4,6,3] ResNet-18 / 34.
 */
function guessCifarResNet(names: readonly string[]): string | undefined {
  const blocks: number[] = [];
  for (const name of names) {
    const match = /^layer(\d)\.(\d+)\.conv1\.weight$/.exec(name);
    if (match !== null) blocks[Number(match[1]) - 1] = Math.max(blocks[Number(match[1]) - 1] ?? 0, Number(match[2]) + 1);
  }
  const perStage = blocks.join(',');
  if (blocks.length === 3 && blocks.every((n) => n === blocks[0])) return `resnet${6 * blocks[0] + 2} (${blocks[0]} blocks per stage)`;
  if (perStage === '2,2,2,2') return 'resnet18';
  if (perStage === '3,4,6,3') return 'resnet34';
  return undefined;
}

/**
 * PyTorch weights that do not fit a model: `problem` lists what is missing, unexpected or of the
 * wrong shape and ends with what to check, without the remedy in API terms that the message adds
 * (so a command line can name its own flags instead).
 */
export class WeightsMismatchError extends Error {
  constructor(
    readonly problem: string,
    readonly strict: boolean,
  ) {
    super(problem + (strict ? '; { strict: false } skips missing and unexpected tensors (never wrong shapes).' : '.'));
    this.name = 'WeightsMismatchError';
  }
}

/**
 * Fills `model` from a PyTorch state_dict (e.g. the `tensors` of a parsed safetensors file),
 * matching each layer by name (see the module comment for the layouts).
 *
 * Everything is checked before anything is written: on any problem it throws one error listing
 * every missing tensor, every unexpected tensor and every tensor of the wrong shape (with the
 * layer, the expected PyTorch shape and the shape found), and the model is left unchanged.
 * Tensors given as tf.Tensor are not disposed.
 *
 * @example
 * const file = await readSafetensorsFile('resnet20.safetensors');
 * loadPytorchWeights(buildZooModel('resnet20'), file.tensors);
 */
export function loadPytorchWeights(
  model: tfl.LayersModel,
  tensors: Record<string, PytorchTensor>,
  options: LoadPytorchWeightsOptions = {},
): void {
  const { strict = true, ignore = DEFAULT_IGNORED_TENSORS } = options;
  const mappings = modelMappings(model);
  const missing: string[] = [];
  const wrongShape: string[] = [];
  const invalid: string[] = [];
  const used = new Set<string>();
  const present: Mapping[] = [];
  for (const m of mappings) {
    const layerName = m.key.slice(0, m.key.lastIndexOf('.'));
    if (!Object.prototype.hasOwnProperty.call(tensors, m.key)) {
      missing.push(`${m.key} (layer ${layerName}, PyTorch shape ${fmt(m.pytorchShape)})`);
      continue;
    }
    used.add(m.key);
    const value = tensors[m.key];
    const problem = isTensor(value) ? undefined : dataProblem(m.key, value);
    if (problem !== undefined) {
      invalid.push(problem);
      continue;
    }
    const shape = value.shape;
    if (shape.length !== m.pytorchShape.length || shape.some((d, i) => d !== m.pytorchShape[i])) {
      wrongShape.push(`${m.key} (layer ${layerName}): expected PyTorch shape ${fmt(m.pytorchShape)}, got ${fmt(shape)}`);
      continue;
    }
    present.push(m);
  }
  const unexpected = Object.keys(tensors)
    .filter((key) => !used.has(key) && !ignore.some((re) => re.test(key)))
    .map((key) => {
      const value = tensors[key];
      return `${key} ${Array.isArray(value?.shape) ? fmt(value.shape) : '(not a tensor)'}`;
    });

  const groups: Array<[string, string[]]> = [
    ['missing', strict ? missing : []],
    ['unexpected', strict ? unexpected : []],
    ['wrong shape', wrongShape],
    ['invalid', invalid],
  ];
  const count = groups.reduce((n, [, list]) => n + list.length, 0);
  if (count > 0) {
    const guess = guessCifarResNet(Object.keys(tensors));
    throw new WeightsMismatchError(
      `natinv: the PyTorch weights do not fit model "${model.name}" (${count} problem${count === 1 ? '' : 's'}):\n` +
        groups
          .filter(([, list]) => list.length > 0)
          .map(([kind, list]) => `  ${list.length} ${kind}: ${summarize(list)}`)
          .join('\n') +
        `\n${guess === undefined ? '' : `The tensor names look like ${guess}. `}Check that the architecture and numClasses match the checkpoint`,
      strict,
    );
  }

  for (const m of present) {
    const value = tf.tensor(toTfjsData(m, asFloatData(tensors[m.key])), m.variable.shape as number[], 'float32');
    m.variable.write(value); // the variable takes its own reference
    value.dispose();
  }
}

/**
 * The inverse of {@link loadPytorchWeights}: every weight of `model` under its PyTorch name and in
 * PyTorch's layout, as plain float32 data ready for `serializeSafetensors` (then
 * `safetensors.torch.load_file` + `model.load_state_dict` on the Python side).
 * Reads the weights synchronously (dataSync).
 */
export function exportPytorchWeights(model: tfl.LayersModel, options: ExportPytorchWeightsOptions = {}): Record<string, TensorData> {
  const { numBatchesTracked = false } = options;
  const out: Record<string, TensorData> = {};
  for (const m of modelMappings(model)) {
    const data = toPytorchData(m, m.variable.read().dataSync() as Float32Array);
    out[m.key] = { dtype: 'float32', shape: [...m.pytorchShape], data };
  }
  if (numBatchesTracked) {
    for (const layer of model.layers) {
      if (layer.getClassName() === 'BatchNormalization') {
        out[`${layer.name}.num_batches_tracked`] = { dtype: 'int32', shape: [], data: new Int32Array([0]) };
      }
    }
  }
  return out;
}
