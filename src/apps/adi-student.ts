/**
 * The student of an Adaptive DeepInversion configuration: the fresh zoo network its competition
 * term compares the teacher with, and the function that distills the teacher into it on the
 * growing image pool after every batch.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { assertZooArchitecture, buildZooModel, ZooArchitecture } from '../models/architectures';
import type { Teacher } from '../models/teacher';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { AdaptiveDeepInversionConfiguration } from '../synthesis/configuration';
import { deriveSeed } from '../util/random';
import { studentTrainer, StudentTrainerOptions } from './distill';

/** An ADI student and the function that trains it between batches: pass it as `competition` as it is. */
export interface AdiStudent {
  readonly arch: ZooArchitecture;
  /** The student network; the caller disposes it. */
  readonly student: tfl.LayersModel;
  /** One round of knowledge distillation on every image synthesized so far. */
  readonly trainStudent: (pool: readonly SynthesizedBatch[]) => Promise<void>;
  /** Rounds finished so far. */
  rounds(): number;
}

/** Options of {@link adiStudent}: when to stop, and what to hear after each round. */
export type AdiStudentOptions = Pick<StudentTrainerOptions, 'signal' | 'onRound'>;

/**
 * Builds the student `configuration.student` names (same classes and input as the teacher,
 * initialized from the run seed) and its trainer: one epoch of `distill`'s defaults per round
 * (KL x T^2 with T 20, SGD 0.1, cosine, crop + flip). Pass both as `competition` to
 * `synthesizeFromConfiguration` or `synthesizeConfiguredRun`.
 */
export function adiStudent(
  teacher: Teacher,
  configuration: AdaptiveDeepInversionConfiguration,
  options: AdiStudentOptions = {},
): AdiStudent {
  const arch = assertZooArchitecture(configuration.student.arch);
  const seed = configuration.seed;
  const model = buildZooModel(arch, { numClasses: teacher.numClasses, inputShape: teacher.inputShape, seed: deriveSeed(seed, 'student') });
  let rounds = 0;
  const trainStudent = studentTrainer({
    teacher,
    student: model,
    seed,
    signal: options.signal,
    onRound: async (round, result) => {
      rounds = round + 1;
      await options.onRound?.(round, result);
    },
  });
  return { arch, student: model, trainStudent, rounds: () => rounds };
}
