/**
 * The command line's side of `natinv synthesize --method adi`: refusing a backend that cannot
 * train the student, reporting its rounds, and saving it to <out>/student/ (the student itself is
 * the library's adiStudent).
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { AdiStudent, AdiStudentOptions } from '../apps/adi-student';
import { ZOO } from '../models/architectures';
import { saveModelFolder, teacherMetadata } from '../models/model-folder';
import type { Teacher } from '../models/teacher';
import { UsageError } from './args';
import { formatDuration, formatNumber, plural, Reporter } from './io';

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

/**
 * Reports each student round on stderr and as a `student` event; `roundStarted` says when the
 * round being reported began.
 */
export function reportStudentRound(
  reporter: Reporter,
  now: () => number,
  arch: string,
  roundStarted: () => number,
): NonNullable<AdiStudentOptions['onRound']> {
  return (round, result) => {
    const started = roundStarted();
    const last = result.history[result.history.length - 1];
    reporter.note(
      `student round ${round + 1}: ${arch} distilled for ${plural(result.steps, 'step')} in ${formatDuration(now() - started)}` +
        (last !== undefined ? ` (kd loss ${formatNumber(last.loss)})` : ''),
    );
    reporter.event('student', { round: round + 1, steps: result.steps, loss: last?.loss ?? null, aborted: result.aborted });
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
  const files = await saveModelFolder(student.student, path.join(out, STUDENT_DIR), metadata);
  return files.modelJson;
}
