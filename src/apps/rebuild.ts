/**
 * Rebuilding a functional LayersModel from its own (edited) configuration: how pruning and
 * classifier extension get a real model of a different width with the same layer names, then
 * fill it from the original's weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** One layer entry of a functional model's configuration. */
export interface LayerConfig {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Per call of the layer: its inputs as [layer name, node index, tensor index, kwargs]. */
  inboundNodes: Array<Array<[string, number, number, Record<string, unknown>]>>;
}

/** A functional model's configuration (what `model.getConfig()` returns). */
export interface ModelConfig {
  name: string;
  layers: LayerConfig[];
  inputLayers: Array<[string, number, number]>;
  outputLayers: Array<[string, number, number]>;
}

/** A deep copy of the model's configuration; throws for models that are not functional graphs. */
export function modelConfig(model: tfl.LayersModel, what: string): ModelConfig {
  const config = model.getConfig() as unknown as ModelConfig;
  if (config == null || !Array.isArray(config.layers) || !Array.isArray(config.outputLayers)) {
    throw new Error(
      `${what}: model '${model.name}' is not a functional tfjs LayersModel (tfl.model or tfl.sequential) with a readable configuration.`,
    );
  }
  return JSON.parse(JSON.stringify(config)) as ModelConfig;
}

/** Layers that use each layer's output, by layer name. */
export function consumersOf(config: ModelConfig): Map<string, string[]> {
  const consumers = new Map<string, string[]>();
  for (const layer of config.layers) {
    for (const node of layer.inboundNodes) {
      for (const [input] of node) {
        const list = consumers.get(input) ?? [];
        list.push(layer.name);
        consumers.set(input, list);
      }
    }
  }
  return consumers;
}

/**
 * A new LayersModel from `config`, weights zero-initialized (every one is then written by
 * `fill`, which returns the values of a layer of the new model by name, in `layer.weights`
 * order). Tensors `fill` returns are disposed here.
 */
export function rebuildModel(config: ModelConfig, fill: (layer: tfl.layers.Layer) => tf.Tensor[] | undefined): tfl.LayersModel {
  // fastWeightInit: zeros instead of the initializers, which every layer's weights overwrite anyway.
  const model = (tfl.LayersModel.fromConfig as (cls: unknown, config: unknown, custom: unknown, fast: boolean) => tfl.LayersModel)(
    tfl.LayersModel,
    config,
    {},
    true,
  );
  try {
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const values = fill(layer);
      if (values == null) continue;
      try {
        layer.setWeights(values);
      } finally {
        tf.dispose(values);
      }
    }
  } catch (cause) {
    model.dispose();
    throw cause;
  }
  return model;
}

/** Copies of a layer's current weight values (the caller disposes them). */
export function copyWeights(layer: tfl.layers.Layer): tf.Tensor[] {
  return layer.weights.map((w) => tf.clone(w.read()));
}
