import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { SynthesizedBatch } from './batch';
import type { StepReport } from './synthesize';

/**
 * What a method carries from one batch to the next, as plain data: named tensors (copies the
 * caller owns and must dispose) and JSON. Methods that start every batch from scratch (DI, NI)
 * have none; the fast method keeps its shared generator and meta-optimizer here.
 */
export interface SynthesizerState {
  readonly tensors: Readonly<Record<string, tf.Tensor>>;
  readonly json: Readonly<Record<string, unknown>>;
}

/** Per-call options of {@link BatchSynthesizer.synthesizeBatch}. */
export interface SynthesizeBatchOptions {
  /**
   * A student the batch is synthesized against (ADI's competition term, the fast method's
   * adversarial term); it runs in inference mode and is never updated here.
   */
  readonly student?: tfl.LayersModel;
  /** Stops after the current step; the unfinished batch is then dropped (the call returns undefined). */
  readonly signal?: AbortSignal;
  readonly onStep?: (report: StepReport & { readonly batch: number }) => void | Promise<void>;
}

/**
 * One method as a stateful maker of batches, batch by batch: the shape a loop that interleaves
 * synthesis with other work (data-free distillation) drives. Batch `index` depends only on the
 * run seed, the index and the state the synthesizer held before the call, so saving the state
 * after a batch and restoring it in a new process continues the run exactly.
 */
export interface BatchSynthesizer {
  /** The method's name as batches record it (`deepInversion`, `naturalInversion`, `fastInversion`, ...). */
  readonly method: string;
  /**
   * The first batch from which every batch costs about the same: a term that starts later (the
   * fast method's adversarial term against a student) makes the earlier ones cheaper. A time
   * budget is planned from the speed of batches after it. Default 0.
   */
  readonly steadyFromBatch?: number;
  /** Makes batch `index`; undefined when `signal` stopped it. */
  synthesizeBatch(index: number, options?: SynthesizeBatchOptions): Promise<SynthesizedBatch | undefined>;
  /** A copy of the state that determines later batches (empty for per-batch methods). */
  saveState(): SynthesizerState;
  /** Replaces the state with a saved one (the synthesizer copies what it keeps). */
  restoreState(state: SynthesizerState): void;
  /** Releases every tensor the synthesizer holds. */
  dispose(): void;
}
