import * as tf from '@tensorflow/tfjs-core';

/**
 * How a parameter is laid out in PyTorch compared with natinv (which keeps tfjs layouts so the
 * forward pass needs no transposes):
 * - `linear`: PyTorch Linear weight [out, in]; natinv kernel [in, out].
 * - `conv`: PyTorch Conv2d weight OIHW; natinv kernel HWIO.
 * - `same`: identical in both (biases, BatchNorm affine parameters, ACS alpha, pixels).
 */
export type PytorchLayout = 'linear' | 'conv' | 'same';

/**
 * Options of `loadPytorchParameters` (on {@link ConditionalGenerator} and
 * {@link FeatureTransferPyramid}): which keys of a PyTorch state dict are read.
 */
export interface LoadPytorchOptions {
  /**
   * Only keys starting with this prefix are read, with the prefix removed (e.g. `generator.` for a
   * state dict that holds several modules). Default: '' (every key).
   */
  prefix?: string;
  /**
   * Accept keys (under the prefix) that name no parameter of the module. Default false: an unknown
   * key is an error, since it usually means the record belongs to another architecture. Buffers
   * the module knowingly has no use for (BatchNorm running statistics) are always skipped.
   */
  allowUnknown?: boolean;
}

/** Converts a PyTorch-layout tensor to natinv's layout. Caller owns the result. */
export function fromPytorchLayout(value: tf.Tensor, layout: PytorchLayout): tf.Tensor {
  if (layout === 'linear') return tf.transpose(value, [1, 0]);
  if (layout === 'conv') return tf.transpose(value, [2, 3, 1, 0]); // OIHW -> HWIO
  return tf.clone(value);
}

/** Converts a natinv-layout tensor to PyTorch's layout. Caller owns the result. */
export function toPytorchLayout(value: tf.Tensor, layout: PytorchLayout): tf.Tensor {
  if (layout === 'linear') return tf.transpose(value, [1, 0]);
  if (layout === 'conv') return tf.transpose(value, [3, 2, 0, 1]); // HWIO -> OIHW
  return tf.clone(value);
}

function pytorchShape(shape: readonly number[], layout: PytorchLayout): number[] {
  if (layout === 'linear') return [shape[1], shape[0]];
  if (layout === 'conv') return [shape[3], shape[2], shape[0], shape[1]];
  return [...shape];
}

/**
 * The named, trainable variables of one module, keyed by their PyTorch parameter names, with
 * conversions to and from PyTorch layouts. Internal building block of the sources.
 */
export class ParameterSet {
  /** Parameters by PyTorch name, in creation order. */
  readonly variables: Record<string, tf.Variable> = {};
  private readonly layouts: Record<string, PytorchLayout> = {};
  private readonly byVariableName: Record<string, string> = {};
  private scopeName: string | undefined;
  private disposed = false;

  /**
   * @param module Module kind, used in tf.Variable names and error messages (`generator`).
   * @param skippable Key suffixes of PyTorch buffers the module has no use for.
   */
  constructor(
    private readonly module: string,
    private readonly skippable: readonly string[] = [],
  ) {}

  /**
   * tf.Variable names are global to the engine: each set takes the first `natinv/<module>_<k>`
   * no live variable uses, so many modules with the same PyTorch parameter names live side by side
   * (a fresh generator per batch) without a counter of our own.
   */
  private get scope(): string {
    if (this.scopeName === undefined) {
      const taken = Object.keys(tf.engine().state.registeredVariables);
      let k = 1;
      while (taken.some((name) => name.startsWith(`natinv/${this.module}_${k}/`))) k += 1;
      this.scopeName = `natinv/${this.module}_${k}`;
    }
    return this.scopeName;
  }

  /** Registers `name` with an initial value in natinv's layout; takes ownership of `initial`. */
  add(name: string, initial: tf.Tensor, layout: PytorchLayout): tf.Variable {
    if (name in this.variables) throw new Error(`${this.module}: parameter ${name} is defined twice.`);
    const variable = tf.variable(initial, true, `${this.scope}/${name}`);
    initial.dispose();
    this.variables[name] = variable;
    this.layouts[name] = layout;
    this.byVariableName[variable.name] = name;
    return variable;
  }

  /** Layout of a parameter in PyTorch compared with natinv. */
  layout(name: string): PytorchLayout {
    const layout = this.layouts[name];
    if (layout == null) throw new Error(`${this.module} has no parameter ${name}; it has ${this.names().join(', ')}.`);
    return layout;
  }

  /** Parameter names in creation order. */
  names(): string[] {
    return Object.keys(this.variables);
  }

  /**
   * Sets every parameter from PyTorch-layout tensors keyed by PyTorch names. All keys are
   * checked before anything is assigned, so a failed load leaves the module unchanged. The caller
   * keeps ownership of `record`.
   */
  loadPytorch(record: Readonly<Record<string, tf.Tensor>>, options: LoadPytorchOptions = {}): void {
    this.assertLive();
    const prefix = options.prefix ?? '';
    const selected: Record<string, tf.Tensor> = {};
    const unknown: string[] = [];
    for (const [key, value] of Object.entries(record)) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      if (name in this.variables) selected[name] = value;
      else if (!this.skippable.some((suffix) => name.endsWith(suffix))) unknown.push(key);
    }
    const problems: string[] = [];
    const missing = this.names().filter((name) => !(name in selected));
    if (missing.length > 0) problems.push(`missing ${missing.map((n) => prefix + n).join(', ')}`);
    if (unknown.length > 0 && options.allowUnknown !== true) {
      problems.push(`unknown ${unknown.join(', ')} (pass allowUnknown: true to ignore them)`);
    }
    for (const [name, value] of Object.entries(selected)) {
      const want = pytorchShape(this.variables[name].shape, this.layouts[name]);
      if (value.shape.length !== want.length || value.shape.some((d, i) => d !== want[i])) {
        problems.push(`${prefix}${name} has shape [${value.shape}], expected [${want}] (PyTorch layout)`);
      }
    }
    if (problems.length > 0) {
      throw new Error(`${this.module}: cannot load PyTorch parameters: ${problems.join('; ')}.`);
    }
    tf.tidy(() => {
      for (const [name, value] of Object.entries(selected)) {
        this.variables[name].assign(tf.cast(fromPytorchLayout(value, this.layouts[name]), 'float32'));
      }
    });
  }

  /**
   * Re-expresses tensors shaped like this module's parameters (gradients, snapshots) in PyTorch
   * layout, keyed by PyTorch name. Keys may be PyTorch names or tf.Variable names (what
   * tf.variableGrads and optimizers use); keys naming no parameter of this module are left out,
   * so the gradients of several modules can be passed as one map. Caller owns the result.
   */
  toPytorch(tensors: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [key, value] of Object.entries(tensors)) {
      const name = key in this.variables ? key : this.byVariableName[key];
      if (name == null) continue;
      out[name] = toPytorchLayout(value, this.layouts[name]);
    }
    return out;
  }

  /** Disposes every variable (idempotent). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const variable of Object.values(this.variables)) variable.dispose();
  }

  /** Whether {@link dispose} has run. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  assertLive(): void {
    if (this.disposed) throw new Error(`${this.module} was disposed; build a new one.`);
  }
}
