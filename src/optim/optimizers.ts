import * as tf from '@tensorflow/tfjs-core';

/**
 * Optimizers with PyTorch's update rules over an explicit variable list, with the learning rate
 * given at every step (tfjs optimizers fix it at construction and `minimize` trains every
 * trainable variable, a teacher's included).
 */
/** A zero-filled, non-trainable variable shaped like `v` (its initial tensor released). */
function zeroSlot(v: tf.Variable): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(v), false));
}

export interface Optimizer {
  /** Applies one update; `gradients` maps variable names to their gradients. */
  step(gradients: tf.NamedTensorMap, learningRate: number): void;
  dispose(): void;
}

export interface AdamOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  /** 1e-8 as PyTorch (tfjs defaults to 1e-7). */
  readonly epsilon?: number;
}

/** Adam's carried state: the step count and both moment estimates, one per variable in order. */
export interface AdamState {
  readonly step: number;
  readonly first: readonly tf.Tensor[];
  readonly second: readonly tf.Tensor[];
}

/** Adam whose state can be saved and restored (a meta-optimizer that outlives one process). */
export interface AdamOptimizer extends Optimizer {
  /** Copies of the state (the caller owns the tensors). */
  saveState(): AdamState;
  /** Replaces the state with copies of `state`'s tensors; shapes must match the variables. */
  restoreState(state: AdamState): void;
}

/** Adam (PyTorch semantics: bias-corrected moments, epsilon outside the square root). */
export function adam(variables: readonly tf.Variable[], options: AdamOptions = {}): AdamOptimizer {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const epsilon = options.epsilon ?? 1e-8;
  const first = variables.map(zeroSlot);
  const second = variables.map(zeroSlot);
  let t = 0;
  return {
    step(gradients, learningRate) {
      t += 1;
      const correction1 = 1 - beta1 ** t;
      const correction2 = 1 - beta2 ** t;
      tf.tidy(() => {
        variables.forEach((v, i) => {
          const g = gradients[v.name];
          if (g == null) return;
          const m = tf.add(tf.mul(first[i], beta1), tf.mul(g, 1 - beta1));
          const s = tf.add(tf.mul(second[i], beta2), tf.mul(tf.square(g), 1 - beta2));
          first[i].assign(m);
          second[i].assign(s);
          const denominator = tf.add(tf.sqrt(tf.div(s, correction2)), epsilon);
          v.assign(tf.sub(v, tf.mul(tf.div(m, denominator), learningRate / correction1)));
        });
      });
    },
    saveState() {
      return { step: t, first: first.map((m) => tf.clone(m)), second: second.map((s) => tf.clone(s)) };
    },
    restoreState(state) {
      if (!Number.isInteger(state.step) || state.step < 0)
        throw new Error(`adam: state.step must be a non-negative integer, got ${state.step}.`);
      const moments = [state.first, state.second];
      variables.forEach((v, i) => {
        for (const moment of moments) {
          const shape = moment[i]?.shape;
          if (shape == null || shape.length !== v.shape.length || shape.some((d, k) => d !== v.shape[k])) {
            throw new Error(
              `adam: saved state does not fit variable ${v.name} [${v.shape}] (got [${shape ?? 'nothing'}]); restore the state of an optimizer over the same variables.`,
            );
          }
        }
      });
      variables.forEach((_, i) => {
        first[i].assign(state.first[i]);
        second[i].assign(state.second[i]);
      });
      t = state.step;
    },
    dispose() {
      tf.dispose([...first, ...second]);
    },
  };
}

export interface SgdOptions {
  readonly momentum?: number;
  readonly weightDecay?: number;
  readonly nesterov?: boolean;
}

/** What an SGD optimizer carries between steps: its momentum buffers (copies the caller owns). */
export interface SgdState {
  /** False until the first step (PyTorch starts the buffer from the first gradient). */
  readonly started: boolean;
  /** One buffer per variable, in variable order; empty without momentum. */
  readonly buffers: readonly tf.Tensor[];
}

/** SGD whose momentum can be saved and restored, so a resumed run continues exactly. */
export interface SgdOptimizer extends Optimizer {
  /** A copy of the momentum buffers. */
  saveState(): SgdState;
  /** Replaces the momentum buffers with saved ones (copied). */
  restoreState(state: SgdState): void;
}

/** SGD with momentum and (coupled) weight decay, PyTorch semantics (dampening 0). */
export function sgd(variables: readonly tf.Variable[], options: SgdOptions = {}): SgdOptimizer {
  const momentum = options.momentum ?? 0;
  const weightDecay = options.weightDecay ?? 0;
  const nesterov = options.nesterov ?? false;
  const buffers = momentum > 0 ? variables.map(zeroSlot) : [];
  let started = false;
  return {
    step(gradients, learningRate) {
      tf.tidy(() => {
        variables.forEach((v, i) => {
          let d = gradients[v.name];
          if (d == null) return;
          if (weightDecay !== 0) d = tf.add(d, tf.mul(v, weightDecay));
          if (momentum > 0) {
            const buffer = started ? tf.add(tf.mul(buffers[i], momentum), d) : d;
            buffers[i].assign(buffer);
            d = nesterov ? tf.add(d, tf.mul(buffer, momentum)) : buffer;
          }
          v.assign(tf.sub(v, tf.mul(d, learningRate)));
        });
      });
      started = true;
    },
    saveState() {
      return { started, buffers: buffers.map((b) => tf.clone(b)) };
    },
    restoreState(state) {
      if (state.buffers.length !== buffers.length) {
        throw new Error(
          `sgd: saved state has ${state.buffers.length} momentum buffers for ${buffers.length}; restore the state of an optimizer over the same variables with the same momentum.`,
        );
      }
      buffers.forEach((b, i) => {
        const shape = state.buffers[i].shape;
        if (shape.length !== b.shape.length || shape.some((d, k) => d !== b.shape[k])) {
          throw new Error(`sgd: saved momentum [${shape}] does not fit variable ${variables[i].name} [${b.shape}].`);
        }
      });
      buffers.forEach((b, i) => b.assign(state.buffers[i]));
      started = state.started;
    },
    dispose() {
      tf.dispose(buffers);
    },
  };
}
