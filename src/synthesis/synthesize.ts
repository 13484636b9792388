import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Augmentation } from '../augment';
import type { Teacher } from '../models/teacher';
import type { EvaluationContext, Objective, TermValue, WeightedObjective } from '../objectives';
import { mergeRequirements } from '../objectives/weighted';
import { adam, AdamOptions, constantRate, LearningRateSchedule, Optimizer } from '../optim';
import type { ImageSource, RenderContext } from '../sources/types';
import { tapNetwork, TappedNetwork, withoutGradient } from '../taps';
import { yieldToEventLoop } from '../util/event-loop';
import { deriveSeed, Random } from '../util/random';

/** One step's numbers, for progress reporting. */
export interface StepReport {
  /** 1-based step just finished. */
  readonly step: number;
  readonly steps: number;
  /** The weighted total at this step (before the update). */
  readonly loss: number;
  /** Each term's unweighted value at this step. */
  readonly terms: Readonly<Record<string, number>>;
  readonly bestLoss: number;
  readonly learningRates: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  /**
   * A copy of the best-loss images so far (NHWC, the teacher's normalized space), for live
   * previews; the caller disposes it. Call it during onStep only: the loop owns what it copies.
   */
  readonly bestImages?: () => tf.Tensor4D;
}

export interface SynthesisOptions {
  readonly teacher: Teacher;
  /** What is optimized; the caller keeps ownership (dispose it after). */
  readonly source: ImageSource;
  /** What is minimized; a `weighted(...)` sum reports each term. */
  readonly objective: Objective;
  /** Optimization steps. */
  readonly steps: number;
  /**
   * Target class of every image (length = source.batchSize); needed by crossEntropy. Default: the
   * source's own labels when it is conditioned on them (NaturalInversion).
   */
  readonly targets?: ArrayLike<number>;
  /** Augmentation of the rendered images before the teacher sees them. Default: none. */
  readonly augmentation?: Augmentation;
  /** Seed of the augmentation draws. Default 0. */
  readonly seed?: number;
  /** Adam settings shared by every variable group. Default PyTorch's (0.9, 0.999, 1e-8). */
  readonly adam?: AdamOptions;
  /** Turns each group's learning rate into a per-step schedule. Default: constant. */
  readonly schedule?: (learningRate: number) => LearningRateSchedule;
  /** A student compared with the teacher (ADI's competition term); run in inference mode. */
  readonly student?: tfl.LayersModel;
  /** Called after every update, e.g. to clip pixels to the valid range. */
  readonly afterStep?: (source: ImageSource) => void;
  /** Called after every step with its numbers. Awaited. */
  readonly onStep?: (report: StepReport) => void | Promise<void>;
  /**
   * Stops the loop after the current step; the result then has `aborted: true`. The loop yields to
   * the event loop before every step, so a signal aborted by a timer or a process signal handler
   * is seen within one step.
   */
  readonly signal?: AbortSignal;
}

export interface SynthesisResult {
  /** The best-loss images, re-rendered without augmentation: NHWC, teacher's normalized space. */
  readonly images: tf.Tensor4D;
  readonly targets?: Int32Array;
  readonly bestLoss: number;
  /** 1-based step whose loss was lowest. */
  readonly bestStep: number;
  /** Each term's value at the best step. */
  readonly terms: Readonly<Record<string, number>>;
  /** Steps actually run. */
  readonly steps: number;
  readonly aborted: boolean;
}

/** Raised when the loss stops being a finite number; says which terms went bad. */
export class DivergenceError extends Error {
  constructor(
    readonly step: number,
    readonly terms: Readonly<Record<string, number>>,
  ) {
    const listed = Object.entries(terms)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ');
    super(
      `synthesis diverged at step ${step}: the loss is no longer finite (${listed}). ` +
        'Lower the learning rates or the term weights, and check the teacher and its inputs.',
    );
    this.name = 'DivergenceError';
  }
}

/** The total and each term's value; a plain objective reports itself as its only term. */
function evaluateTerms(objective: Objective, context: EvaluationContext): { total: tf.Scalar; terms: TermValue[] } {
  if ('evaluateTerms' in objective) return (objective as WeightedObjective).evaluateTerms(context);
  const total = objective.evaluate(context);
  return { total, terms: [{ name: objective.name, weight: 1, value: total }] };
}

/** Checks the options and the objective against the teacher; returns the targets as int32. */
function validateOptions(options: SynthesisOptions, network: TappedNetwork): Int32Array | undefined {
  const { source, steps, teacher } = options;
  if (options.targets != null && source.labels != null && !sameLabels(options.targets, source.labels)) {
    throw new Error(`synthesize: source '${source.name}' is conditioned on its own labels; options.targets must be omitted or equal them.`);
  }
  const targets = options.targets ?? source.labels;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`synthesize: steps must be a positive integer, got ${steps}.`);
  if (source.groups.length === 0) throw new Error(`synthesize: source '${source.name}' has no variables to optimize.`);
  const requires = mergeRequirements([options.objective]);
  if (requires.student && options.student == null) {
    throw new Error('synthesize: the objective compares a student with the teacher (competition/kd); pass options.student.');
  }
  if (targets == null) {
    if (requires.targets) throw new Error('synthesize: the objective needs target labels (crossEntropy); pass options.targets.');
    return undefined;
  }
  if (targets.length !== source.batchSize) {
    throw new Error(`synthesize: ${targets.length} targets for a batch of ${source.batchSize} images; give one label per image.`);
  }
  const labels = Int32Array.from(targets);
  const bad = labels.findIndex((label) => !(label >= 0 && label < teacher.numClasses));
  if (bad >= 0) {
    throw new Error(`synthesize: target ${labels[bad]} (image ${bad}) is not a class of '${teacher.name}' (0..${teacher.numClasses - 1}).`);
  }
  options.objective.prepare?.(network);
  return labels;
}

function sameLabels(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.from(a).every((value, i) => value === b[i]);
}

/**
 * The inversion loop: optimizes `source` so that the teacher's view of its (augmented) images
 * minimizes `objective`. Each variable group gets its own Adam optimizer and learning rate; the
 * teacher's and student's weights are never touched. The best-loss images are kept, re-rendered
 * without augmentation. Deterministic under `seed` and the source's own seed on one backend.
 */
export async function synthesize(options: SynthesisOptions): Promise<SynthesisResult> {
  const { teacher, source, objective, steps } = options;
  const network = tapNetwork(teacher.model);
  const studentNetwork = options.student == null ? undefined : tapNetwork(options.student);
  const labels = validateOptions(options, network);
  const requires = mergeRequirements([objective]);
  const random = new Random(deriveSeed(options.seed ?? 0, 'augment'));
  const augmentation = options.augmentation;
  const schedule = options.schedule ?? constantRate;
  const groupSchedules = source.groups.map((g) => schedule(g.learningRate));
  const variables = source.groups.flatMap((g) => g.variables);

  const teacherFeatures = (images: tf.Tensor4D, taps: readonly string[]) =>
    withoutGradient(images, (x) => {
      const { logits, features } = network.forward(x, { features: taps });
      logits.dispose();
      return taps.map((name) => features.get(name));
    }) as tf.Tensor4D[];
  const training: RenderContext = {
    augment: (images) => (augmentation == null ? images : augmentation.apply(images, random)),
    teacherFeatures,
  };
  const plain: RenderContext = { augment: (images) => images, teacherFeatures };

  const targets = labels == null ? undefined : tf.tensor1d(labels, 'int32');
  const optimizers: Optimizer[] = source.groups.map((g) => adam(g.variables, options.adam));
  let best: tf.Tensor4D | undefined;
  let bestLoss = Infinity;
  let bestStep = 0;
  let bestTerms: Record<string, number> = {};
  let step = 0;
  const started = Date.now();
  try {
    for (step = 1; step <= steps; step++) {
      // Lets a Ctrl-C handler (or any timer) run between steps, so an abort is seen after this step.
      await yieldToEventLoop();
      if (options.signal?.aborted) {
        step -= 1;
        break;
      }
      let termNames: string[] = [];
      let packed: tf.Tensor | undefined;
      const { grads, value } = tf.variableGrads(() => {
        const images = training.augment(source.render(training));
        const context: EvaluationContext = {
          images,
          teacher: network.forward(images, { batchNorm: requires.batchNorm, features: requires.features }),
          targets,
          student: studentNetwork == null ? undefined : { logits: studentNetwork.forward(images).logits },
        };
        const { total, terms } = evaluateTerms(objective, context);
        termNames = terms.map((t) => t.name);
        packed = tf.keep(tf.stack([total, ...terms.map((t) => t.value)]));
        return total;
      }, variables);
      const numbers = Array.from(await (packed as tf.Tensor).data());
      tf.dispose([packed, value]);
      const loss = numbers[0];
      const terms = Object.fromEntries(termNames.map((name, i) => [name, numbers[i + 1]]));
      if (!Number.isFinite(loss)) {
        tf.dispose(Object.values(grads));
        throw new DivergenceError(step, terms);
      }
      const learningRates: Record<string, number> = {};
      source.groups.forEach((group, i) => {
        const rate = groupSchedules[i](step - 1, steps);
        learningRates[group.name] = rate;
        optimizers[i].step(grads, rate);
      });
      tf.dispose(Object.values(grads));
      options.afterStep?.(source);
      if (loss < bestLoss) {
        bestLoss = loss;
        bestStep = step;
        bestTerms = terms;
        best?.dispose();
        best = tf.tidy(() => tf.clone(source.render(plain)));
      }
      const kept = best as tf.Tensor4D; // set at step 1 at the latest: any finite loss beats Infinity
      await options.onStep?.({
        step,
        steps,
        loss,
        terms,
        bestLoss,
        learningRates,
        elapsedMs: Date.now() - started,
        bestImages: () => tf.clone(kept) as tf.Tensor4D,
      });
    }
  } catch (error) {
    best?.dispose();
    throw error;
  } finally {
    optimizers.forEach((o) => o.dispose());
    targets?.dispose();
  }
  if (best == null) best = tf.tidy(() => tf.clone(source.render(plain)));
  return {
    images: best,
    targets: labels,
    bestLoss,
    bestStep,
    terms: bestTerms,
    steps: Math.min(step, steps),
    aborted: step <= steps,
  };
}
