import type { LayersModel } from '@tensorflow/tfjs-layers';

/** The shape of one teacher feature map that feeds a Feature Transfer Pyramid (NHWC, batch left out). */
export interface FeatureSpec {
  /** Layer name the map is read from (for messages and manifests). */
  readonly name: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Integer factor `to / from` per axis, or null when `to` is not a whole multiple of `from`. */
export function integerRatio(from: number, to: number): number | null {
  return to >= from && to % from === 0 ? to / from : null;
}

/**
 * Checks specs are usable by a pyramid: at least one, positive integer sizes, ordered deepest
 * (smallest) first with each map a whole-number upscale of the previous one. `where` prefixes
 * the error message.
 */
export function validateFeatureSpecs(specs: readonly FeatureSpec[], where: string): void {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new Error(`${where}: pass at least one feature spec ({ name, channels, height, width }), deepest first.`);
  }
  for (const spec of specs) {
    for (const key of ['channels', 'height', 'width'] as const) {
      const value = spec?.[key];
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${where}: feature ${spec?.name ?? '?'} has ${key} ${value}; it must be a positive integer.`);
      }
    }
  }
  for (let k = 1; k < specs.length; k++) {
    const a = specs[k - 1];
    const b = specs[k];
    if (integerRatio(a.height, b.height) == null || integerRatio(a.width, b.width) == null) {
      throw new Error(
        `${where}: feature ${b.name} (${b.height}x${b.width}) is not a whole-number upscale of the previous ` +
          `feature ${a.name} (${a.height}x${a.width}). List the taps deepest (smallest) first, with sizes that ` +
          `divide each other (e.g. 4, 8, 16, 32).`,
      );
    }
  }
}

/**
 * Reads the output shapes of the named layers of a tfjs-layers model as FTP feature specs,
 * in the order given (deepest first).
 *
 * @param model The teacher (any LayersModel; its top-level layers are searched).
 * @param tapNames Layer names, deepest first, e.g. ['layer3.2', 'layer2.2', 'layer1.2'].
 * @throws When a name is unknown (the message lists the model's layer names), when a layer's
 *   output is not a single rank-4 NHWC map with known sizes, or when the sizes are not integer
 *   ratios of each other.
 */
export function featureSpecsFromModel(model: LayersModel, tapNames: readonly string[]): FeatureSpec[] {
  if (!Array.isArray(tapNames) || tapNames.length === 0) {
    throw new Error('featureSpecsFromModel: pass at least one layer name, deepest first.');
  }
  const layers = new Map(model.layers.map((layer) => [layer.name, layer]));
  const specs = tapNames.map((name): FeatureSpec => {
    const layer = layers.get(name);
    if (layer == null) {
      throw new Error(
        `featureSpecsFromModel: model ${model.name} has no layer named '${name}'. Its layers are: ` + `${[...layers.keys()].join(', ')}.`,
      );
    }
    let shape: unknown;
    try {
      shape = layer.outputShape;
    } catch (cause) {
      throw new Error(`featureSpecsFromModel: cannot read the output shape of layer '${name}': ${(cause as Error).message}`);
    }
    const dims = shape as Array<number | null>;
    const single = Array.isArray(dims) && dims.every((d) => d == null || typeof d === 'number');
    if (!single || dims.length !== 4 || dims.slice(1).some((d) => d == null)) {
      throw new Error(
        `featureSpecsFromModel: layer '${name}' outputs ${JSON.stringify(shape)}; a feature tap must be a single ` +
          `rank-4 map [batch, height, width, channels] with known sizes. Pick a convolutional block output.`,
      );
    }
    return { name, height: dims[1] as number, width: dims[2] as number, channels: dims[3] as number };
  });
  validateFeatureSpecs(specs, 'featureSpecsFromModel');
  return specs;
}
