import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { FeatureMaps } from './feature-maps';
import { functionalGraph, GraphContainer, GraphNode, isNestedModel, nodesInExecutionOrder } from './graph';
import { BatchStatistics, batchNormTraining } from './batch-norm-training';
import { callPlain, callPlainMany, isBatchNorm, movingStatistics } from './layer-ops';

/** The input of one BatchNormalization layer in one forward pass. */
export interface BatchNormTap {
  /** Layer name; inside a nested model, prefixed by the nested model's name and '/'. */
  readonly layer: string;
  /** What the layer normalized: the conv output before normalization. */
  readonly input: tf.Tensor;
  /** The layer's moving statistics. Owned by the model: never dispose them. */
  readonly movingMean: tf.Tensor1D;
  readonly movingVariance: tf.Tensor1D;
}

/** What to read out of a forward pass besides the logits. */
export interface TapRequest {
  /** Collect the input of every BatchNormalization layer, in model order. Default false. */
  readonly batchNorm?: boolean;
  /** Names of layers whose outputs to return, keyed by name. Default none. */
  readonly features?: readonly string[];
}

/** The values one forward pass produced. */
export interface TapOutputs {
  readonly logits: tf.Tensor;
  readonly batchNorm: readonly BatchNormTap[];
  /** The requested layers' outputs by name: `features.get('layer3.2')`. */
  readonly features: FeatureMaps;
}

/** The batch statistics of one BatchNormalization layer in a training-mode pass. */
export interface BatchNormUpdate {
  readonly layer: string;
  readonly statistics: BatchStatistics;
}

/** What a training-mode forward pass produced. */
export interface TrainingOutputs {
  readonly logits: tf.Tensor;
  /** One entry per BatchNormalization layer, in model order; apply with {@link TappedNetwork.updateMovingStatistics}. */
  readonly batchNorm: readonly BatchNormUpdate[];
}

interface LayerInfo {
  readonly qualifiedName: string;
  readonly layer: tfl.layers.Layer;
}

/**
 * A LayersModel prepared for inversion: one inference-mode forward pass that returns the logits
 * together with the tapped tensors, as values. Every layer runs in inference mode (the teacher's
 * BatchNormalization statistics are never updated); Conv2D, DepthwiseConv2D, Dense,
 * BatchNormalization, ReLU and Add run as plain ops so gradients flow to the input without
 * computing weight gradients. The weights are constants of the pass: it is differentiable with
 * respect to its input only (train a model with its own layers API). Nested models (a model used as a layer) are walked into: their layers are tapped
 * under the name `outer/inner`.
 */
export class TappedNetwork {
  readonly model: tfl.LayersModel;
  /** BatchNormalization layer names in model (execution) order. */
  readonly batchNormLayers: readonly string[];
  /** Every layer name a feature tap may name. */
  readonly layerNames: readonly string[];
  private readonly graph: GraphContainer;
  private readonly layersByName: Map<string, LayerInfo>;

  constructor(model: tfl.LayersModel) {
    this.model = model;
    this.graph = functionalGraph(model);
    this.layersByName = new Map();
    const batchNorms: string[] = [];
    collectLayers(this.graph, '', this.layersByName, batchNorms);
    this.batchNormLayers = batchNorms;
    this.layerNames = [...this.layersByName.keys()];
  }

  /** [height, width, channels] (or the full shape without batch) the model takes. */
  get inputShape(): number[] {
    const shape = (this.graph.inputs[0] as unknown as { shape: Array<number | null> }).shape;
    return shape.slice(1).map((d) => d ?? -1);
  }

  /** Output shape (without the batch dimension) of a tappable layer. */
  outputShape(name: string): number[] {
    const layer = this.layer(name);
    const shape = layer.outputShape as Array<number | null>;
    if (Array.isArray(shape[0])) {
      throw new Error(`layer '${name}' has several outputs; tap a layer with one output.`);
    }
    return shape.slice(1).map((d) => d ?? -1);
  }

  /** The layer behind a tappable name; the error lists every available name. */
  layer(name: string): tfl.layers.Layer {
    const info = this.layersByName.get(name);
    if (info == null) {
      throw new Error(`model '${this.model.name}' has no layer named '${name}'. Available layers: ${this.layerNames.join(', ')}.`);
    }
    return info.layer;
  }

  /** Throws unless `images` is a batch the model accepts, naming expected and actual shapes. */
  assertInput(images: tf.Tensor): void {
    const expected = this.inputShape;
    const got = images.shape.slice(1);
    const matches = images.rank === expected.length + 1 && expected.every((d, i) => d === -1 || d === got[i]);
    if (!matches) {
      const hint =
        images.rank === 4 && images.shape[1] === expected[2] && images.shape[3] === expected[1]
          ? ' It looks channels-first (NCHW): tfjs models take NHWC, transpose with tf.transpose(x, [0, 2, 3, 1]).'
          : '';
      throw new Error(
        `model '${this.model.name}' takes images of shape [N, ${expected.join(', ')}] but got ` + `[${images.shape.join(', ')}].${hint}`,
      );
    }
  }

  /**
   * One forward pass in inference mode. Intermediate tensors are released; the returned ones
   * (logits, BatchNorm inputs, features) belong to the caller. Differentiable with respect to
   * `images` (use inside tf.grads / optimizer closures).
   */
  forward(images: tf.Tensor, request: TapRequest = {}): TapOutputs {
    this.assertInput(images);
    const featureNames = [...new Set(request.features ?? [])];
    for (const name of featureNames) this.layer(name);
    const wanted = new Set(featureNames);
    const tapBatchNorm = request.batchNorm ?? false;

    const bnLayers: string[] = [];
    const found = new Map<string, tf.Tensor>();
    const [logits, ...rest] = tf.tidy(() => {
      const bnInputs: tf.Tensor[] = [];
      const visit: Visitor = {
        batchNorm: tapBatchNorm
          ? (name, input) => {
              bnLayers.push(name);
              bnInputs.push(input);
            }
          : undefined,
        output: (name, output) => {
          if (wanted.has(name) && !found.has(name)) found.set(name, output);
        },
      };
      const outputs = runGraph(this.graph, [images], '', visit);
      const unreached = featureNames.filter((n) => !found.has(n));
      if (unreached.length > 0) {
        throw new Error(
          `model '${this.model.name}': layer(s) ${unreached.join(', ')} produced no output on the way to the logits; tap a layer the logits depend on.`,
        );
      }
      return [outputs[0], ...bnInputs, ...featureNames.map((n) => found.get(n) as tf.Tensor)];
    });
    const bnInputs = rest.slice(0, bnLayers.length);
    const features = new FeatureMaps(featureNames.map((name, i) => [name, rest[bnLayers.length + i]] as const));
    const batchNorm = bnLayers.map((layer, i) => {
      const stats = movingStatistics(this.layer(layer));
      return { layer, input: bnInputs[i], movingMean: stats.mean, movingVariance: stats.variance };
    });
    return { logits, batchNorm, features };
  }

  /**
   * One forward pass in training mode, differentiable with respect to the model's weights (use
   * inside tf.variableGrads): BatchNormalization normalizes with the batch's statistics, which
   * are returned, not applied (call {@link updateMovingStatistics} after the step). Conv2D, Dense,
   * BatchNormalization, ReLU and Add run as plain ops with compact gradients; other layers run
   * their own `call` with `training: true`.
   */
  trainingForward(images: tf.Tensor): TrainingOutputs {
    this.assertInput(images);
    const updates: BatchNormUpdate[] = [];
    const visit: Visitor = {
      training: true,
      output: () => undefined,
      call: (layer, inputs, name) => {
        if (inputs.length === 1 && isBatchNorm(layer)) {
          const { y, statistics } = trainingBatchNorm(layer, inputs[0]);
          updates.push({ layer: name, statistics });
          return y;
        }
        if (!TRAINABLE_PLAIN_LAYERS.has(layer.getClassName())) return undefined;
        return inputs.length === 1 ? callPlain(layer, inputs[0]) : callPlainMany(layer, inputs);
      },
    };
    const logits = tf.tidy(() => runGraph(this.graph, [images], '', visit)[0]);
    return { logits, batchNorm: updates };
  }

  /**
   * Folds a training pass's batch statistics into the BatchNormalization layers' moving
   * statistics, PyTorch's way: moving = momentum * moving + (1 - momentum) * batch (the layer's
   * Keras momentum), with the unbiased batch variance. Disposes the statistics.
   */
  updateMovingStatistics(updates: readonly BatchNormUpdate[]): void {
    tf.tidy(() => {
      for (const { layer, statistics } of updates) {
        const bn = this.layer(layer) as tfl.layers.Layer & { momentum: number };
        const { mean, variance } = movingStatistics(bn);
        const keep = bn.momentum;
        (mean as unknown as tf.Variable).assign(tf.add(tf.mul(mean, keep), tf.mul(statistics.mean, 1 - keep)));
        (variance as unknown as tf.Variable).assign(tf.add(tf.mul(variance, keep), tf.mul(statistics.variance, 1 - keep)));
      }
    });
    tf.dispose(updates.flatMap(({ statistics }) => [statistics.mean, statistics.variance]));
  }
}

/** Layers whose plain ops (callPlain) are differentiable with respect to their weights too. */
const TRAINABLE_PLAIN_LAYERS = new Set(['Conv2D', 'Dense', 'ReLU', 'Activation', 'Add', 'GlobalAveragePooling2D']);

function trainingBatchNorm(layer: tfl.layers.Layer, x: tf.Tensor): { y: tf.Tensor; statistics: BatchStatistics } {
  const bn = layer as tfl.layers.Layer & {
    gamma?: { read(): tf.Tensor } | null;
    beta?: { read(): tf.Tensor } | null;
    epsilon: number;
    axis: number;
  };
  if (bn.axis !== -1 && bn.axis !== x.rank - 1) {
    throw new Error(`BatchNormalization layer '${layer.name}' normalizes axis ${bn.axis}; natinv trains channels-last models (axis -1).`);
  }
  const channels = x.shape[x.rank - 1];
  const gamma = (bn.gamma?.read() ?? tf.ones([channels])) as tf.Tensor1D;
  const beta = (bn.beta?.read() ?? tf.zeros([channels])) as tf.Tensor1D;
  return batchNormTraining(x, gamma, beta, bn.epsilon);
}

interface Visitor {
  batchNorm?: (qualifiedName: string, input: tf.Tensor) => void;
  output: (qualifiedName: string, output: tf.Tensor) => void;
  /** Runs layers in training mode (the fallback `call` gets `training: true`). Default false. */
  training?: boolean;
  /** Evaluates a layer before the plain ops are tried; undefined passes it on. */
  call?: (layer: tfl.layers.Layer, inputs: tf.Tensor[], qualifiedName: string) => tf.Tensor | undefined;
}

function collectLayers(graph: GraphContainer, prefix: string, into: Map<string, LayerInfo>, batchNorms: string[]): void {
  for (const node of nodesInExecutionOrder(graph)) {
    const layer = node.outboundLayer;
    const qualifiedName = prefix + layer.name;
    if (into.has(qualifiedName)) continue;
    if (layer.getClassName() === 'InputLayer') continue;
    into.set(qualifiedName, { qualifiedName, layer });
    if (isBatchNorm(layer)) batchNorms.push(qualifiedName);
    if (isNestedModel(layer)) collectLayers(functionalGraph(layer), `${qualifiedName}/`, into, batchNorms);
  }
}

/** One node of a graph's execution plan, resolved once per graph. */
interface PlannedNode {
  readonly node: GraphNode;
  readonly layer: tfl.layers.Layer;
  readonly name: string;
  readonly nested?: GraphContainer;
  readonly batchNorm: boolean;
  readonly inputIds: readonly number[];
  readonly outputIds: readonly number[];
}

/** Execution plans by graph: nodes in order, InputLayers left out (sorting them per call costs). */
const plans = new WeakMap<GraphContainer, readonly PlannedNode[]>();

function planOf(graph: GraphContainer): readonly PlannedNode[] {
  let plan = plans.get(graph);
  if (plan == null) {
    plan = nodesInExecutionOrder(graph)
      .filter((node) => node.outboundLayer.getClassName() !== 'InputLayer')
      .map((node) => {
        const layer = node.outboundLayer;
        return {
          node,
          layer,
          name: layer.name,
          nested: isNestedModel(layer) ? functionalGraph(layer) : undefined,
          batchNorm: isBatchNorm(layer),
          inputIds: node.inputTensors.map((symbol) => symbol.id),
          outputIds: node.outputTensors.map((symbol) => symbol.id),
        };
      });
    plans.set(graph, plan);
  }
  return plan;
}

/** Runs a functional graph node by node, as tfjs-layers does, reporting taps to `visit`. */
function runGraph(graph: GraphContainer, inputs: tf.Tensor[], prefix: string, visit: Visitor): tf.Tensor[] {
  const values = new Map<number, tf.Tensor>();
  graph.inputs.forEach((symbol, i) => values.set(symbol.id, inputs[i]));
  for (const planned of planOf(graph)) {
    const nodeInputs = planned.inputIds.map((id) => values.get(id));
    if (nodeInputs.some((t) => t == null)) continue;
    const outputs = runNode(planned, nodeInputs as tf.Tensor[], prefix, visit);
    planned.outputIds.forEach((id, i) => values.set(id, outputs[i]));
  }
  return graph.outputs.map((symbol) => {
    const value = values.get(symbol.id);
    if (value == null) throw new Error(`natinv could not compute output ${symbol.id} of model '${graph.name}'.`);
    return value;
  });
}

function runNode(planned: PlannedNode, inputs: tf.Tensor[], prefix: string, visit: Visitor): tf.Tensor[] {
  const { layer, node } = planned;
  const name = prefix + planned.name;
  let outputs: tf.Tensor[];
  if (planned.nested != null) {
    outputs = runGraph(planned.nested, inputs, `${name}/`, visit);
  } else {
    if (planned.batchNorm) visit.batchNorm?.(name, inputs[0]);
    const plain =
      visit.call != null
        ? visit.call(layer, inputs, name)
        : inputs.length === 1
          ? callPlain(layer, inputs[0])
          : callPlainMany(layer, inputs);
    if (plain != null) {
      outputs = [plain];
    } else {
      const kwargs = { ...(node.callArgs ?? {}), training: visit.training ?? false };
      const result = layer.call(inputs.length === 1 ? inputs[0] : inputs, kwargs);
      outputs = Array.isArray(result) ? result : [result];
    }
  }
  outputs.forEach((output) => visit.output(name, output));
  return outputs;
}

const cache = new WeakMap<tfl.LayersModel, TappedNetwork>();

/** The TappedNetwork of a model, built once per model. */
export function tapNetwork(model: tfl.LayersModel): TappedNetwork {
  let network = cache.get(model);
  if (network == null) {
    network = new TappedNetwork(model);
    cache.set(model, network);
  }
  return network;
}
