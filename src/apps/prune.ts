/** L1-norm filter pruning (Li et al., ICLR 2017) that yields a real, smaller tfjs model. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { consumersOf, copyWeights, LayerConfig, ModelConfig, modelConfig, rebuildModel } from './rebuild';

/** Options of {@link pruneFilters}. */
export interface PruneFiltersOptions {
  /** Fraction of the filters removed from every prunable conv layer, in [0, 1): floor(filters x ratio) go. 0 gives an identical model. */
  readonly ratio: number;
  /** Names of prunable conv layers to leave whole (e.g. sensitive layers). Default none. */
  readonly exclude?: readonly string[];
  /** Name of the new model. Default `<model name>_pruned`. */
  readonly name?: string;
}

/** What happened to one pruned conv layer. */
export interface PrunedLayer {
  /** The conv layer whose filters were pruned. */
  readonly layer: string;
  /** Filters before pruning. */
  readonly filters: number;
  /** Indices of the kept filters (ascending): the largest L1 norms. */
  readonly kept: readonly number[];
  /** Layers whose per-channel weights followed (the BatchNorm after the conv). */
  readonly followers: readonly string[];
  /** The layer whose input channels (conv) or input features (Linear) shrank. */
  readonly next: string;
}

/** Result of {@link pruneFilters}. */
export interface PruneFiltersResult {
  /** The new, smaller model (trainable, same layer names); the input model is left unchanged. */
  readonly model: tfl.LayersModel;
  /** Every pruned conv layer, in model order. */
  readonly layers: readonly PrunedLayer[];
  /** Parameters (weights and BatchNorm statistics) before and after. */
  readonly parameters: { readonly before: number; readonly after: number };
}

/** Layer classes pruning understands; any other class makes the model unsupported. */
const SUPPORTED = new Set([
  'InputLayer',
  'Conv2D',
  'BatchNormalization',
  'ReLU',
  'Activation',
  'LeakyReLU',
  'ELU',
  'ZeroPadding2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Add',
  'natinv>OptionAShortcut',
  'Flatten',
  'Permute',
  'Dense',
  'Dropout',
]);
/** Layers a channel passes through unchanged, channel for channel. */
const PER_CHANNEL = new Set(['ReLU', 'Activation', 'LeakyReLU', 'ELU', 'ZeroPadding2D', 'MaxPooling2D', 'AveragePooling2D', 'Dropout']);

/** How a pruned conv's channels reach the next weighted layer. */
interface Chain {
  readonly followers: string[];
  readonly next: string;
  /** Maps the kept channels to the next layer's kept inputs (channels for a conv, features for a Linear). */
  readonly inputsOf: (kept: readonly number[]) => number[];
}

const SUPPORTED_MODELS =
  "pruneFilters supports plain conv/BatchNorm networks such as the zoo's CIFAR ResNet-20..56, ResNet-18/34 and VGG-11/16-BN";

/**
 * Follows a conv's output through per-channel layers to the one weighted layer that reads it.
 * Returns undefined when the output branches (a residual add, a shortcut) or reaches the model's
 * output: such a conv's filters cannot be removed without changing other layers' channels.
 */
function chainOf(
  conv: string,
  config: ModelConfig,
  byName: Map<string, LayerConfig>,
  consumers: Map<string, string[]>,
  model: tfl.LayersModel,
): Chain | undefined {
  const outputs = new Set(config.outputLayers.map(([name]) => name));
  const followers: string[] = [];
  let current = conv;
  let flat: 'channels' | 'hwc' | 'chw' | undefined;
  let spatial: [number, number, number] = [1, 1, 1];
  let permuted = false;
  for (;;) {
    const users = consumers.get(current) ?? [];
    if (outputs.has(current) || users.length !== 1) return undefined;
    const next = byName.get(users[0]) as LayerConfig;
    const cls = next.className;
    if (flat === undefined && !permuted && (cls === 'BatchNormalization' || PER_CHANNEL.has(cls))) {
      if (cls === 'BatchNormalization') {
        const axis = next.config.axis as number | number[];
        const a = Array.isArray(axis) ? axis : [axis];
        if (a.length !== 1 || (a[0] !== -1 && a[0] !== 3)) return undefined;
        followers.push(next.name);
      }
      current = next.name;
      continue;
    }
    if (cls === 'Conv2D' && flat === undefined && !permuted) {
      return { followers, next: next.name, inputsOf: (kept) => [...kept] };
    }
    if (flat === undefined && !permuted && (cls === 'GlobalAveragePooling2D' || cls === 'GlobalMaxPooling2D')) {
      flat = 'channels';
      current = next.name;
      continue;
    }
    if (flat === undefined && !permuted && cls === 'Permute') {
      const dims = next.config.dims as number[];
      if (dims.join(',') !== '3,1,2') return undefined;
      permuted = true;
      current = next.name;
      continue;
    }
    if (flat === undefined && cls === 'Flatten') {
      // NHWC before any Permute: the input of the Permute, or of the Flatten itself.
      const source = model.getLayer(permuted ? current : next.name).input;
      const shape = (Array.isArray(source) ? source[0] : source).shape;
      const dims = shape.slice(1) as number[];
      if (dims.some((d) => d == null)) return undefined;
      spatial = [dims[0], dims[1], dims[2]];
      flat = permuted ? 'chw' : 'hwc';
      current = next.name;
      continue;
    }
    if (flat !== undefined && (cls === 'Dropout' || cls === 'Activation')) {
      current = next.name;
      continue;
    }
    if (flat !== undefined && cls === 'Dense') {
      const [h, w, c] = spatial;
      const order = flat;
      return {
        followers,
        next: next.name,
        inputsOf: (kept) => {
          if (order === 'channels') return [...kept];
          const rows: number[] = [];
          // The new model flattens in the same order, with the kept channels renumbered.
          if (order === 'chw') for (const k of kept) for (let i = 0; i < h * w; i++) rows.push(k * h * w + i);
          else for (let i = 0; i < h * w; i++) for (const k of kept) rows.push(i * c + k);
          return rows;
        },
      };
    }
    return undefined;
  }
}

/** Indices of the `keep` filters of an HWIO kernel with the largest L1 norms (ties: lower index), ascending. */
function largestFilters(kernel: tf.Tensor, keep: number): number[] {
  // On the host: tf.sum over [0, 1, 2] transposes first, which takes seconds on the pure-JS backend.
  const data = kernel.dataSync();
  const filters = kernel.shape[3] as number;
  const norms = new Float64Array(filters);
  for (let i = 0; i < data.length; i++) norms[i % filters] += Math.abs(data[i]);
  const order = Array.from(norms.keys()).sort((a, b) => norms[b] - norms[a] || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}

/** `t` restricted to `indices` along `axis`, computed on the host (fast on every backend); undefined indices keep `t`. */
function gatherAxis(t: tf.Tensor, indices: readonly number[] | undefined, axis: number): tf.Tensor {
  if (indices === undefined || (indices.length === t.shape[axis] && indices.every((j, i) => j === i))) return t;
  const shape = t.shape;
  const data = t.dataSync();
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = shape[axis];
  const out = new Float32Array(outer * indices.length * inner);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const j of indices) {
      const from = (o * dim + j) * inner;
      out.set(data.subarray(from, from + inner), at);
      at += inner;
    }
  }
  const newShape = [...shape];
  newShape[axis] = indices.length;
  return tf.tensor(out, newShape, 'float32');
}

function checkModel(model: tfl.LayersModel, config: ModelConfig): void {
  for (const layer of config.layers) {
    if (!SUPPORTED.has(layer.className)) {
      throw new Error(
        `${SUPPORTED_MODELS}; model '${model.name}' has layer '${layer.name}' of class ${layer.className}, which it does not know how to prune around.`,
      );
    }
    if (layer.inboundNodes.length > 1) {
      throw new Error(
        `${SUPPORTED_MODELS}; layer '${layer.name}' of model '${model.name}' is shared (called ${layer.inboundNodes.length} times).`,
      );
    }
    if (layer.className === 'Conv2D' && layer.config.dataFormat !== 'channelsLast') {
      throw new Error(`pruneFilters: conv layer '${layer.name}' is channelsFirst; natinv models are NHWC (channelsLast).`);
    }
  }
}

/**
 * L1-norm filter pruning at the same ratio in every prunable conv layer, as Li et al. (2017):
 * each conv keeps its `filters - floor(filters x ratio)` output filters with the largest L1 norm
 * (sum of |weights| of the filter, on the original weights, every layer independently). The
 * result is a new, smaller tfjs model (same layer names and architecture, fewer filters) with the
 * kept filters, the matching input channels of the next conv (or input features of the Linear
 * classifier after the last conv), and the BatchNorm gamma, beta and moving statistics of the
 * kept channels copied; every other weight is copied as is.
 *
 * Which convs are prunable: those whose output reaches exactly one weighted layer through
 * per-channel layers (BatchNorm, ReLU, padding, pooling). In residual networks that is the first
 * conv of each BasicBlock (conv1/bn1, whose channels only feed conv2): block outputs, which feed
 * the residual add and the shortcuts (option-A or 1x1 conv), keep every channel, as do the stem
 * conv and the shortcut convs. In VGG every conv is pruned, the classifier's input features
 * following the last conv. Supported: the zoo's CIFAR ResNet-20/32/44/56 and ResNet-18/34,
 * VGG-11/16-BN, and other plain conv/BatchNorm/Dense graphs; MobileNetV2 (depthwise convs) is not.
 * Ratio 0 returns an identical copy. The input model is not changed.
 *
 * @example
 * const { model: pruned, parameters } = pruneFilters(teacher.model, { ratio: 0.5 });
 * await fineTune({ model: pruned, images: data, teacher, labels: 'teacher' });
 */
export function pruneFilters(model: tfl.LayersModel, options: PruneFiltersOptions): PruneFiltersResult {
  if (model == null || typeof model.getConfig !== 'function') {
    throw new Error('pruneFilters: the first argument must be a tfjs LayersModel (for a Teacher, pass teacher.model).');
  }
  const ratio = options?.ratio;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1)) {
    throw new Error(`pruneFilters: ratio must be a number in [0, 1) (0.5 removes half the filters of every prunable conv), got ${ratio}.`);
  }
  const config = modelConfig(model, 'pruneFilters');
  checkModel(model, config);
  const exclude = new Set(options.exclude ?? []);
  const byName = new Map(config.layers.map((l) => [l.name, l]));
  for (const name of exclude) {
    if (byName.get(name)?.className !== 'Conv2D')
      throw new Error(`pruneFilters: exclude names '${name}', which is not a conv layer of model '${model.name}'.`);
  }
  const consumers = consumersOf(config);
  const pruned: PrunedLayer[] = [];
  const outputChannels = new Map<string, number[]>();
  const inputChannels = new Map<string, number[]>();
  for (const layer of config.layers) {
    if (layer.className !== 'Conv2D' || exclude.has(layer.name)) continue;
    const chain = chainOf(layer.name, config, byName, consumers, model);
    if (chain === undefined) continue;
    const kernel = model.getLayer(layer.name).getWeights()[0];
    const filters = kernel.shape[3] as number;
    const keep = filters - Math.floor(filters * ratio + 1e-9);
    const kept = largestFilters(kernel, keep);
    outputChannels.set(layer.name, kept);
    chain.followers.forEach((f) => outputChannels.set(f, kept));
    inputChannels.set(chain.next, chain.inputsOf(kept));
    layer.config.filters = kept.length;
    pruned.push({ layer: layer.name, filters, kept, followers: chain.followers, next: chain.next });
  }
  if (pruned.length === 0 && config.layers.some((l) => l.className === 'Conv2D')) {
    throw new Error(
      `pruneFilters: no conv layer of model '${model.name}' can be pruned (every conv output feeds a residual sum, a branch or the output).`,
    );
  }
  config.name = options.name ?? `${model.name}_pruned`;

  const newModel = rebuildModel(config, (layer) =>
    tf.tidy(() => {
      const values = copyWeights(model.getLayer(layer.name));
      const out = outputChannels.get(layer.name);
      const inputs = inputChannels.get(layer.name);
      const cls = layer.getClassName();
      const gather = gatherAxis;
      if (cls === 'Conv2D') return values.map((v) => (v.rank === 4 ? gather(gather(v, inputs, 2), out, 3) : gather(v, out, 0)));
      if (cls === 'BatchNormalization') return values.map((v) => gather(v, out, 0));
      if (cls === 'Dense') return values.map((v) => (v.rank === 2 ? gather(v, inputs, 0) : v));
      return values;
    }),
  );
  newModel.trainable = true;
  return { model: newModel, layers: pruned, parameters: { before: model.countParams(), after: newModel.countParams() } };
}
