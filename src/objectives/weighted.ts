import * as tf from '@tensorflow/tfjs-core';
import type { TappedNetwork } from '../taps';
import type { EvaluationContext, Objective, ObjectiveRequirements, TermValue } from './types';

/** A weighted sum of named terms that reports every term's value. */
export interface WeightedObjective extends Objective {
  readonly terms: ReadonlyArray<{ readonly weight: number; readonly objective: Objective }>;
  /** The weighted total and each term's unweighted value, from one evaluation. */
  evaluateTerms(context: EvaluationContext): { total: tf.Scalar; terms: TermValue[] };
}

/** Merges what several objectives need from the forward pass. */
export function mergeRequirements(objectives: readonly Objective[]): Required<ObjectiveRequirements> {
  const features = new Set<string>();
  let batchNorm = false;
  let targets = false;
  let student = false;
  for (const { requires } of objectives) {
    batchNorm ||= requires?.batchNorm ?? false;
    targets ||= requires?.targets ?? false;
    student ||= requires?.student ?? false;
    for (const feature of requires?.features ?? []) features.add(feature);
  }
  return { batchNorm, targets, student, features: [...features] };
}

/**
 * `weighted([[1, crossEntropy()], [10, bnStatistics()], [2.5e-5, totalVariation('l2')]])`.
 * Terms with weight 0 are skipped (not evaluated). Names must be unique.
 */
export function weighted(terms: ReadonlyArray<readonly [number, Objective]>, options: { readonly name?: string } = {}): WeightedObjective {
  const seen = new Set<string>();
  for (const [weight, objective] of terms) {
    if (!Number.isFinite(weight))
      throw new Error(`weighted: the weight of term '${objective.name}' is ${weight}; weights must be finite numbers.`);
    if (seen.has(objective.name)) {
      throw new Error(`weighted: two terms are named '${objective.name}'; give one a different name option.`);
    }
    seen.add(objective.name);
  }
  const active = terms.filter(([weight]) => weight !== 0).map(([weight, objective]) => ({ weight, objective }));
  if (active.length === 0) throw new Error('weighted: the objective has no term with a non-zero weight.');
  const requires = mergeRequirements(active.map((t) => t.objective));

  function evaluateTerms(context: EvaluationContext) {
    const values: TermValue[] = active.map(({ weight, objective }) => ({
      name: objective.name,
      weight,
      value: objective.evaluate(context),
    }));
    const total = tf.addN(values.map(({ weight, value }) => (weight === 1 ? value : tf.mul(value, weight)))) as tf.Scalar;
    return { total, terms: values };
  }

  return {
    name: options.name ?? 'total',
    terms: active,
    requires,
    prepare(network: TappedNetwork) {
      for (const { objective } of active) objective.prepare?.(network);
    },
    evaluateTerms,
    evaluate: (context) => evaluateTerms(context).total,
  };
}
