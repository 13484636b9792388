import * as tfl from '@tensorflow/tfjs-layers';

/**
 * The parts of tfjs-layers' functional graph that natinv walks. They are public fields of
 * Container and Node in tfjs-layers 4.x; reading them through this narrow view keeps the
 * dependency on them in one place.
 */
export interface GraphSymbol {
  readonly id: number;
}

export interface GraphNode {
  readonly outboundLayer: tfl.layers.Layer;
  readonly inputTensors: readonly GraphSymbol[];
  readonly outputTensors: readonly GraphSymbol[];
  readonly callArgs?: Record<string, unknown>;
}

export interface GraphContainer {
  readonly name: string;
  readonly inputs: readonly GraphSymbol[];
  readonly outputs: readonly GraphSymbol[];
  readonly layers: readonly tfl.layers.Layer[];
  readonly nodesByDepth: Record<string, GraphNode[]>;
}

/** The functional graph behind a LayersModel; a Sequential model keeps its graph in `.model`. */
export function functionalGraph(model: tfl.LayersModel): GraphContainer {
  if (model instanceof tfl.Sequential) {
    const sequential = model as unknown as { model?: tfl.LayersModel; build(): void };
    if (sequential.model == null) sequential.build();
    return functionalGraph(sequential.model as tfl.LayersModel);
  }
  const graph = model as unknown as Partial<GraphContainer>;
  if (graph.nodesByDepth == null || graph.inputs == null || graph.outputs == null) {
    throw new Error(
      `natinv cannot read the layer graph of model '${model.name}': it is not a functional or sequential ` +
        'tfjs-layers model (tf.model / tf.sequential / tf.loadLayersModel).',
    );
  }
  return graph as GraphContainer;
}

/** Nodes in execution order: deepest first, as tfjs-layers itself runs them. */
export function nodesInExecutionOrder(graph: GraphContainer): GraphNode[] {
  return Object.keys(graph.nodesByDepth)
    .map(Number)
    .sort((a, b) => b - a)
    .flatMap((depth) => graph.nodesByDepth[String(depth)]);
}

/** True when a layer is itself a model (a nested model used as a layer). */
export function isNestedModel(layer: tfl.layers.Layer): layer is tfl.LayersModel {
  return layer instanceof tfl.LayersModel;
}
