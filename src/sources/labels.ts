import { deriveSeed, Random } from '../util/random';

/** Options of {@link oneToOneLabels}. */
export interface OneToOneLabelsOptions {
  /** Number of labels. Required. */
  batchSize: number;
  /** Classes to cycle through, 0..numClasses-1. Required. */
  numClasses: number;
  /** Seed of the random remainder. Required. */
  seed: number;
}

/**
 * NaturalInversion's per-batch targets: whole cycles 0, 1, ..., numClasses-1 first, then the
 * remaining `batchSize mod numClasses` slots filled with distinct classes drawn at random (so no
 * class appears more than once more than another).
 */
export function oneToOneLabels(options: OneToOneLabelsOptions): Int32Array {
  const { batchSize, numClasses, seed } = options ?? ({} as OneToOneLabelsOptions);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`oneToOneLabels: batchSize must be a positive integer, got ${batchSize}.`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`oneToOneLabels: numClasses must be a positive integer, got ${numClasses}.`);
  }
  if (!Number.isInteger(seed)) throw new Error(`oneToOneLabels: seed must be an integer, got ${seed}.`);
  const labels = new Int32Array(batchSize);
  const cycled = batchSize - (batchSize % numClasses);
  for (let i = 0; i < cycled; i++) labels[i] = i % numClasses;
  // Partial Fisher-Yates: the first `rest` entries of a seeded shuffle of the classes.
  const rest = batchSize - cycled;
  if (rest > 0) {
    const random = new Random(deriveSeed(seed, 'labels'));
    const classes = Int32Array.from({ length: numClasses }, (_, c) => c);
    for (let i = 0; i < rest; i++) {
      const j = random.int(i, numClasses - 1);
      [classes[i], classes[j]] = [classes[j], classes[i]];
      labels[cycled + i] = classes[i];
    }
  }
  return labels;
}
