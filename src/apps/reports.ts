/**
 * What a training run reports, per step, per epoch and at its end: plain numbers, shared by the
 * loop that makes them and the checkpoints that carry them.
 */

/** Numbers of one finished epoch. */
export interface EpochReport {
  /** 1-based epoch just finished. */
  readonly epoch: number;
  readonly epochs: number;
  /** Optimizer steps run so far, and in the whole run. */
  readonly step: number;
  readonly steps: number;
  /** Mean total loss over the epoch's steps (each measured before its update). */
  readonly loss: number;
  /** Mean of each loss term over the epoch's steps, unweighted. */
  readonly terms: Readonly<Record<string, number>>;
  /** Learning rate of the epoch's last step. */
  readonly learningRate: number;
  /** Top-1 accuracy on `testSet` after this epoch, when one was given. */
  readonly testAccuracy?: number;
  /** Further test numbers an application adds (continualLearning: oldClassAccuracy, newClassAccuracy). */
  readonly testMetrics?: Readonly<Record<string, number>>;
  /** Wall time of the epoch, evaluation included. */
  readonly seconds: number;
}

/** Numbers of one optimizer step. */
export interface TrainStepReport {
  /** 1-based step just finished, of `steps`. */
  readonly step: number;
  readonly steps: number;
  readonly epoch: number;
  readonly loss: number;
  readonly terms: Readonly<Record<string, number>>;
  readonly learningRate: number;
}

/** What a training run did. */
export interface TrainingResult {
  /** One report per finished epoch. */
  readonly history: readonly EpochReport[];
  /** Optimizer steps run. */
  readonly steps: number;
  /** True when `signal` stopped the run; the model keeps the updates made until then. */
  readonly aborted: boolean;
  /** Top-1 accuracy on `testSet` after the last finished epoch, when one was given. */
  readonly testAccuracy?: number;
}
