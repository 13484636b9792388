/**
 * The student of `natinv synthesize --method adi`: a fresh zoo network the competition term
 * compares the teacher with, distilled from the teacher on the growing image pool after every
 * batch (studentTrainer), and saved as a tfjs model folder at the end.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { studentTrainer } from '../apps/distill';
import { buildZooModel, ZOO, ZooArchitecture } from '../models/architectures';
import type { Teacher } from '../models/teacher';
import type { SynthesizedBatch } from '../synthesis/batch';
import { deriveSeed } from '../util/random';
import { UsageError } from './args';
import { formatDuration, formatNumber, plural, Reporter } from './io';
import { saveModelFolder, teacherMetadata } from '../models/model-folder';

/** Folder inside --out where the student is saved. */
export const STUDENT_DIR = 'student';

/**
 * Throws a usage error when `backend` cannot train a network (wasm has no convolution weight
 * gradients); `command` and `why` say what needed training.
 */
export function assertCanTrainStudent(backend: string, command = 'natinv synthesize', why = '--method adi trains a student'): void {
  if (tf.getKernel('Conv2DBackpropFilter', backend) == null) {
    throw new UsageError(
      `${command}: ${why}, and the ${backend} backend cannot train convolutions ` +
        '(no Conv2DBackpropFilter kernel); use --backend tensorflow or cpu.',
    );
  }
}

/** An ADI student and the function that trains it between batches. */
export interface AdiStudent {
  readonly arch: ZooArchitecture;
  readonly model: tfl.LayersModel;
  /** One knowledge-distillation round on every image synthesized so far. */
  readonly trainStudent: (pool: readonly SynthesizedBatch[]) => Promise<void>;
  /** Rounds finished. */
  rounds(): number;
}

/**
 * Builds the student (same classes and input as the teacher, initialised from the run seed) and
 * its trainer: one epoch of distill's defaults per round (KL x T^2 with T 20, SGD 0.1, cosine,
 * crop + flip), stopped by `signal`. Each round is reported on stderr and as a `student` event.
 */
export function createAdiStudent(
  arch: ZooArchitecture,
  teacher: Teacher,
  seed: number,
  reporter: Reporter,
  signal: AbortSignal,
  now: () => number,
): AdiStudent {
  const model = buildZooModel(arch, { numClasses: teacher.numClasses, inputShape: teacher.inputShape, seed: deriveSeed(seed, 'student') });
  let rounds = 0;
  let started = 0;
  const train = studentTrainer({
    teacher,
    student: model,
    seed,
    signal,
    onRound: (round, result) => {
      rounds = round + 1;
      const last = result.history[result.history.length - 1];
      reporter.note(
        `student round ${round + 1}: ${arch} distilled for ${plural(result.steps, 'step')} in ${formatDuration(now() - started)}` +
          (last !== undefined ? ` (kd loss ${formatNumber(last.loss)})` : ''),
      );
      reporter.event('student', { round: round + 1, steps: result.steps, loss: last?.loss ?? null, aborted: result.aborted });
    },
  });
  return {
    arch,
    model,
    trainStudent: async (pool) => {
      started = now();
      await train(pool);
    },
    rounds: () => rounds,
  };
}

/** Saves the student into `<out>/student/` with the teacher's normalization; returns model.json's path. */
export async function saveAdiStudent(
  student: AdiStudent,
  teacher: Teacher,
  out: string,
  classNames: readonly string[] | undefined,
): Promise<string> {
  const name = `${teacher.name}-adi-${student.arch}`;
  const metadata = teacherMetadata({ ...teacher, name, featureTaps: ZOO[student.arch].featureTaps }, { arch: student.arch, classNames });
  const files = await saveModelFolder(student.model, path.join(out, STUDENT_DIR), metadata);
  return files.modelJson;
}
