import type * as tf from '@tensorflow/tfjs-core';
import type { TapOutputs, TappedNetwork } from '../taps';

/** What a loss term sees at one evaluation. */
export interface EvaluationContext {
  /** The images the teacher saw (after augmentation), NHWC in the teacher's normalized space. */
  readonly images: tf.Tensor4D;
  /** The teacher's forward pass on `images`: logits, BatchNorm inputs, requested features. */
  readonly teacher: TapOutputs;
  /** Target class per image (int32 [B]), when the run has targets. */
  readonly targets?: tf.Tensor;
  /** A student's logits on the same images (ADI's competition term, KD). */
  readonly student?: { readonly logits: tf.Tensor };
}

/** What an objective needs the forward pass to collect. */
export interface ObjectiveRequirements {
  readonly batchNorm?: boolean;
  /** Layers whose outputs `evaluate` reads, by name, from `teacher.features.get(name)`. */
  readonly features?: readonly string[];
  readonly targets?: boolean;
  readonly student?: boolean;
}

/**
 * A named loss term. Implement this to add your own regularizer next to the built-in ones:
 *
 * ```ts
 * const diversity: Objective = {
 *   name: 'diversity',
 *   requires: { features: ['layer3.2'] },
 *   evaluate: ({ teacher }) => myDiversityLoss(teacher.features.get('layer3.2')),
 * };
 * ```
 */
export interface Objective {
  /** Short name shown in progress lines and manifests (`ce`, `bn`, `tv`, ...). Unique in a sum. */
  readonly name: string;
  readonly requires?: ObjectiveRequirements;
  /** Checks the objective against the teacher once, before the first evaluation; throws clear errors. */
  prepare?(network: TappedNetwork): void;
  /** A differentiable scalar. Tensors created here are released by the caller's tf.tidy. */
  evaluate(context: EvaluationContext): tf.Scalar;
}

/** One term's weight and value at an evaluation. */
export interface TermValue {
  readonly name: string;
  readonly weight: number;
  /** The unweighted value. */
  readonly value: tf.Scalar;
}
