/**
 * What carries a model being trained from one process to the next: its weights (BatchNorm moving
 * statistics included) and SGD's momentum buffers, as named tensors. Shared by the training loop's
 * snapshots and the data-free loop's.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { SgdOptimizer } from '../optim';

const MOMENTUM_PREFIX = 'momentum.';

/** Copies of `model`'s weights as `<weightPrefix>.<i>` (in `model.weights` order) and of the momentum buffers as `momentum.<i>`; the caller disposes them. */
export function modelStateTensors(
  model: tfl.LayersModel,
  optimizer: SgdOptimizer,
  weightPrefix: string,
): { tensors: Record<string, tf.Tensor>; momentumStarted: boolean } {
  const tensors: Record<string, tf.Tensor> = {};
  model.weights.forEach((weight, i) => (tensors[`${weightPrefix}.${i}`] = tf.clone(weight.read())));
  const momentum = optimizer.saveState();
  momentum.buffers.forEach((b, i) => (tensors[`${MOMENTUM_PREFIX}${i}`] = b));
  return { tensors, momentumStarted: momentum.started };
}

/**
 * Writes saved weights and momentum back into `model` and `optimizer`; the tensors stay the
 * caller's. Throws, naming `what`, when they were not saved from a model of the same shapes.
 */
export function restoreModelState(
  model: tfl.LayersModel,
  optimizer: SgdOptimizer,
  saved: { readonly tensors: Readonly<Record<string, tf.Tensor>>; readonly momentumStarted: boolean },
  weightPrefix: string,
  what: string,
): void {
  const tensor = (name: string): tf.Tensor => {
    const t = saved.tensors[name];
    if (t == null) throw new Error(`${what}: the snapshot lacks tensor '${name}'; it was not written by this run for this model.`);
    return t;
  };
  const weights = model.weights.map((weight, i) => {
    const value = tensor(`${weightPrefix}.${i}`);
    if (value.shape.join() !== weight.shape.join()) {
      throw new Error(
        `${what}: snapshot weight ${i} is [${value.shape}] but the model's '${weight.name}' is [${weight.shape}]; resume with the same model.`,
      );
    }
    return value;
  });
  const buffers = Object.keys(saved.tensors)
    .filter((name) => name.startsWith(MOMENTUM_PREFIX))
    .map((_, i) => tensor(`${MOMENTUM_PREFIX}${i}`));
  // The optimizer checks its buffers before anything is written, so a mismatch changes nothing.
  optimizer.restoreState({ started: saved.momentumStarted, buffers });
  model.weights.forEach((weight, i) => weight.write(weights[i]));
}
