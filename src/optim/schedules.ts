/** A learning-rate schedule: the rate at step `step` (0-based) of `totalSteps`. */
export type LearningRateSchedule = (step: number, totalSteps: number) => number;

/** The same rate at every step. */
export function constantRate(rate: number): LearningRateSchedule {
  return () => rate;
}

/**
 * DeepInversion's ImageNet schedule: linear warm-up over `warmupSteps` steps
 * (rate * (step + 1) / warmupSteps), then half a cosine from `rate` down to 0.
 */
export function cosineWithWarmup(rate: number, options: { readonly warmupSteps?: number } = {}): LearningRateSchedule {
  const warmup = options.warmupSteps ?? 100;
  return (step, totalSteps) => {
    if (step < warmup) return (rate * (step + 1)) / warmup;
    const span = Math.max(totalSteps - warmup, 1);
    return 0.5 * (1 + Math.cos((Math.PI * (step - warmup)) / span)) * rate;
  };
}
