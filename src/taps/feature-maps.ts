import type * as tf from '@tensorflow/tfjs-core';

/**
 * The feature maps one forward pass returned, keyed by layer name. Read them by name, never by
 * position: several objectives may share one forward pass, and the pass taps the union of the
 * layers they asked for.
 *
 * ```ts
 * evaluate: ({ teacher }) => myLoss(teacher.features.get('layer3.2')),
 * ```
 */
export class FeatureMaps implements ReadonlyMap<string, tf.Tensor> {
  private readonly byName: ReadonlyMap<string, tf.Tensor>;

  /** @param entries Layer name and output, in request order. */
  constructor(entries: Iterable<readonly [string, tf.Tensor]> = []) {
    this.byName = new Map(entries);
  }

  /**
   * The output of layer `name`. Throws, naming the requested layers, when the pass did not tap
   * it (an objective lists the layers it reads in `requires.features`).
   */
  get(name: string): tf.Tensor {
    const value = this.byName.get(name);
    if (value == null) {
      const requested = this.byName.size === 0 ? 'none' : [...this.byName.keys()].join(', ');
      throw new Error(
        `the forward pass did not tap layer '${name}' (tapped: ${requested}). ` +
          `List it in the objective's requires.features (or the TapRequest's features).`,
      );
    }
    return value;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get size(): number {
    return this.byName.size;
  }

  /** Layer names, in request order. */
  keys(): MapIterator<string> {
    return this.byName.keys();
  }

  /** Outputs, in request order. */
  values(): MapIterator<tf.Tensor> {
    return this.byName.values();
  }

  entries(): MapIterator<[string, tf.Tensor]> {
    return this.byName.entries();
  }

  forEach(callback: (value: tf.Tensor, key: string, map: ReadonlyMap<string, tf.Tensor>) => void): void {
    this.byName.forEach((value, key) => callback(value, key, this));
  }

  [Symbol.iterator](): MapIterator<[string, tf.Tensor]> {
    return this.byName.entries();
  }
}
