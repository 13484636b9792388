/**
 * `natinv distill`: knowledge distillation of a teacher into a fresh zoo student on a dataset
 * folder written by natinv synthesize, with per-epoch progress, test accuracy and checkpoints;
 * the student is saved as a tfjs model folder plus its PyTorch-named safetensors.
 */
import { checkpointFolder } from '../../apps/checkpoint-folder';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { distill } from '../../apps/distill';
import type { TrainingSnapshot } from '../../apps/checkpoint';
import type { TrainingResult } from '../../apps/loop';
import { ZOO_ARCHITECTURES } from '../../models/architectures';
import { CommandSpec, Options, ParsedArgs, UsageError } from '../args';
import { distillLoopCommand, LOOP_OPTIONS } from './distill-loop';
import { BACKEND_OPTION, chooseBackend } from '../backend';
import { CliIo, EXIT, formatDuration, formatNumber, plural, Reporter } from '../io';
import { checkFollowOptions, FOLLOW_OPTIONS, followFolder, followTrainingData, reportPoolGrowth } from '../follow';
import { chooseStudent, freshStudent, loadStudent, studentFolderMetadata } from '../kd-student';
import { assertCanTrainStudent } from '../student';
import { classNamesFor, resolveTeacher, teacherOptions } from '../teacher';
import {
  CHECKPOINTS_DIR,
  checkDataFolder,
  checkDataShape,
  checkpointEvery,
  checkPositive,
  checkTestFile,
  clearCheckpoints,
  datasetTeacher,
  describeTraining,
  epochJson,
  percent,
  PYTORCH_FILE,
  loadResumableRun,
  prepareResumableOut,
  readTestSet,
  readTrainingData,
  saveTrained,
  testAccuracy,
  testOptions,
  TestSet,
  trainingOptions,
  trainingSettings,
  TrainingProgress,
  TRAINING_FILE,
} from '../training';

/** distill's defaults (the common data-free KD recipe), shown in --help. */
const DEFAULTS = { epochs: 200, batchSize: 128, learningRate: 0.1, weightDecay: 1e-4, schedule: 'cosine from RATE to 0 over the run' };
const TEMPERATURE = 20;

export const DISTILL: CommandSpec = {
  name: 'distill',
  summary: 'Distill a teacher into a student (a fresh zoo network or a model folder), data-free or on synthesized images.',
  description: [
    'Trains the student to match the teacher on a dataset folder written by natinv synthesize: KL(teacher/T || ' +
      'student/T) x T^2, SGD with momentum and weight decay, a cosine learning rate, random crop + flip. The teacher ' +
      "runs in inference mode and is never changed; the images' target labels are not used.",
    `The student is saved to --out as a tfjs model folder (model.json + weights.bin, with the teacher's normalization, ` +
      `loadable by every natinv command) and as ${PYTORCH_FILE} with PyTorch names; ${TRAINING_FILE} records the ` +
      `settings and every epoch's numbers; ${CHECKPOINTS_DIR}/epoch-NNNN.safetensors are written as it goes.`,
    "With --test, the student's top-1 accuracy on a CIFAR file is measured after every epoch (and the teacher's " +
      'once, for reference). Ctrl-C stops after the current step and saves the student as trained so far (exit code 130); ' +
      'rerunning the same command (Ctrl-C or a kill) continues after the last finished epoch to the student an uninterrupted run gives.',
    'Without --data, distill needs no images at all: each round synthesizes a batch with --method against the current ' +
      'student, adds it to a pool (saved as a dataset folder in <out>/pool), then takes --kd-steps KD steps on minibatches ' +
      'drawn from the whole pool, with a cosine learning rate over the planned rounds (weight decay 5e-4 by default), for ' +
      '--minutes (the round count is fixed from the speed of the first rounds with every term on) or --rounds. A checkpoint is written every 5 ' +
      'minutes and at Ctrl-C; rerunning the same command continues it and ends with the same student as an uninterrupted ' +
      'run. training.json holds the accuracy over time and accuracy.png charts it.',
    'Training needs the tensorflow backend (fast; @tensorflow/tfjs-node) or cpu (pure JavaScript: a ResNet-20 ' +
      'step takes seconds per image); wasm cannot train convolutions.',
  ],
  options: [
    ...teacherOptions().filter((o) => o.name !== 'taps'),
    {
      name: 'data',
      kind: 'string',
      value: 'DIR',
      help:
        'Dataset folder written by natinv synthesize: the images to distill on. Without it, distill synthesizes its own ' +
        'images round by round against the student (--method, --minutes or --rounds), resumable by rerunning the command.',
      default: 'none: data-free rounds',
    },
    ...LOOP_OPTIONS,
    ...FOLLOW_OPTIONS,
    {
      name: 'student-arch',
      kind: 'string',
      value: 'ARCH',
      choices: ZOO_ARCHITECTURES,
      help: `Zoo architecture of the student, freshly initialised from --seed: ${ZOO_ARCHITECTURES.join(', ')}.`,
      default: 'resnet20',
    },
    {
      name: 'student',
      kind: 'string',
      value: 'MODEL',
      help:
        'Train this tfjs model folder (or model.json) as the student instead of a fresh --student-arch: a network of ' +
        "your own, or an earlier student to distill further. It must take the teacher's images and give its classes.",
      default: 'a fresh --student-arch',
    },
    ...trainingOptions(DEFAULTS, '', "the shuffling and augmentation draws and of a fresh student's weights"),
    {
      name: 'temperature',
      kind: 'number',
      value: 'T',
      help: 'KD temperature: teacher and student logits are divided by T.',
      default: String(TEMPERATURE),
    },
    ...testOptions('after every epoch'),
    { name: 'out', kind: 'string', value: 'DIR', help: 'Folder the student is written to (created if needed).', default: 'natinv-student' },
    { name: 'overwrite', kind: 'flag', help: 'Replace the model an earlier run left in --out (its checkpoints are deleted).' },
    BACKEND_OPTION,
    { name: 'json', kind: 'flag', help: 'Print JSON lines on stdout: a start event, one epoch event per epoch and a final summary.' },
  ],
  examples: [
    'natinv distill --minutes 60 --test test_batch.bin.gz --out kd-student   # data-free: synthesize and distill in rounds',
    'natinv distill --method ni --rounds 100 --clock cpu --out kd-ni',
    'natinv distill --data natinv-out --epochs 5 --batch-size 32 --test test_batch.bin.gz --test-limit 1000',
    'natinv distill --arch resnet56 --weights cifar10_resnet56.safetensors --data run --student-arch resnet20 --out kd-resnet20',
    'natinv distill --data /pool/run --follow --json   # while the shards of an indexed job write /pool/run',
  ],
};

/** Runs `natinv distill`; returns the exit code. */
export async function distillCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  const now = io.now ?? Date.now;
  const command = 'natinv distill';
  if (!options.has('data') && !options.flag('follow')) return distillLoopCommand(args, io);
  for (const name of LOOP_OPTIONS.map((o) => o.name)) {
    if (options.has(name)) {
      throw new UsageError(`${command}: --${name} applies to data-free distillation (without --data); with --data the images are given.`);
    }
  }

  // Everything the command line alone can tell, before a backend or a network is loaded.
  const dataText = options.string('data');
  const follow = options.flag('follow');
  const idleTimeout = checkFollowOptions(options, command);
  const dataFolder = follow ? followFolder(dataText, cwd, command) : checkDataFolder(dataText, cwd, command, 'the images to distill on');
  const testFile = checkTestFile(options, cwd, command);
  for (const name of ['lr', 'temperature']) checkPositive(options, name, command);
  const every = checkpointEvery(options, command);
  const overwrite = options.flag('overwrite');
  const outText = options.string('out') ?? 'natinv-student';
  const { out, resuming } = prepareResumableOut(outText, cwd, overwrite, every > 0 && !follow, command);
  const { arch, studentFolder } = chooseStudent(options, cwd, command);
  const data = follow ? await followTrainingData(dataFolder, idleTimeout, reporter, io.signal) : await readTrainingData(dataFolder);
  if (data === undefined) return EXIT.interrupted;

  const backend = await chooseBackend(options.string('backend'), env, reporter, 'training');
  assertCanTrainStudent(backend.name, command, 'distill trains the student');
  const resolved = await resolveTeacher(options, { command, cwd });
  const { teacher } = resolved;
  let student: tfl.LayersModel | undefined;
  let resume: TrainingSnapshot | undefined;
  try {
    checkDataShape(data, teacher, command, dataText as string);
    const test: TestSet | undefined = testFile === undefined ? undefined : await readTestSet(testFile, options, teacher, command);
    const classNames = classNamesFor(resolved, undefined, command);
    const settings = trainingSettings(options);
    const seed = settings.seed ?? 0;
    const temperature = options.number('temperature') ?? TEMPERATURE;
    const epochs = settings.epochs ?? DEFAULTS.epochs;
    const batchSize = settings.batchSize ?? DEFAULTS.batchSize;
    const made =
      studentFolder !== undefined ? await loadStudent(studentFolder, teacher, command) : freshStudent(arch, teacher, seed, command);
    student = made.model;
    const studentName = made.arch ?? made.model.name;
    const { dataset } = data;
    const source = datasetTeacher(dataset);
    reporter.note(
      `distilling ${resolved.description} into ${made.description} (${student.countParams().toLocaleString('en-US')} parameters); backend ${backend.name}; writing to ${out}`,
    );
    if (source !== undefined && source !== teacher.name) {
      reporter.note(`note: ${data.folder} was synthesized from ${source}, not from ${teacher.name}.`);
    }
    reporter.note(
      `${describeTraining(epochs, dataset.count, batchSize)}, T ${formatNumber(temperature)}${settings.augmentation === false ? ', no augmentation' : ''}`,
    );
    let teacherAccuracy: number | undefined;
    if (test !== undefined) {
      teacherAccuracy = await testAccuracy(teacher.model, test, teacher, teacher.normalization);
      reporter.note(`teacher on ${plural(test.count, 'test image')} (${test.what}): ${percent(teacherAccuracy)}`);
    }
    const configuration = {
      command: 'distill',
      teacher: teacher.name,
      data: data.folder,
      images: dataset.count,
      ...(follow ? { follow: true } : {}),
      student: studentFolder ?? null,
      studentArch: made.arch ?? null,
      epochs,
      batchSize,
      learningRate: settings.learningRate ?? DEFAULTS.learningRate,
      momentum: settings.momentum ?? 0.9,
      weightDecay: settings.weightDecay ?? DEFAULTS.weightDecay,
      temperature,
      augmentation: settings.augmentation !== false,
      seed,
      test: test === undefined ? null : { file: test.file, images: test.count },
    };
    resume = resuming ? await loadResumableRun(out, outText, configuration, command) : undefined;
    if (resume !== undefined) reporter.note(`continuing the run in ${out} after epoch ${resume.json.epochsDone}`);
    reporter.event('start', { ...configuration, backend: backend.name, out, resumedAfterEpoch: resume?.json.epochsDone ?? null });

    if (overwrite) clearCheckpoints(out);
    const progress = new TrainingProgress(reporter, now, batchSize, Math.ceil(dataset.count / batchSize), 'distill');
    const started = now();
    progress.begin();
    let result: TrainingResult;
    try {
      result = await distill({
        ...settings,
        teacher,
        student,
        images: dataset,
        temperature,
        studentNormalization: made.normalization ?? teacher.normalization,
        testSet: test === undefined ? undefined : { images01: test.images01, labels: test.labels },
        ...(every > 0 ? { checkpoint: checkpointFolder(path.join(out, CHECKPOINTS_DIR), { configuration }), checkpointEvery: every } : {}),
        resume,
        signal: io.signal,
        onStep: (report) => progress.step(report),
        onEpoch: (report) => progress.epoch(report),
        onPoolGrowth: (growth) => reportPoolGrowth(reporter, growth),
      });
    } finally {
      progress.clearLine();
    }
    const seconds = (now() - started) / 1000;
    const last = result.history[result.history.length - 1];
    const metadata = studentFolderMetadata(teacher, made, classNames);
    const summary = {
      ...configuration,
      epochsDone: result.history.length,
      steps: result.steps,
      aborted: result.aborted,
      loss: last?.loss ?? null,
      testAccuracy: result.testAccuracy ?? null,
      teacherAccuracy: teacherAccuracy ?? null,
      seconds,
      history: result.history.map(epochJson),
    };
    const files = await saveTrained(student, out, metadata, summary);
    reporter.event('done', { ...summary, files });
    reporter.result(
      `student:  ${files.modelJson} (${studentName}, ${plural(result.history.length, 'epoch')} of distillation in ${formatDuration(seconds * 1000)})`,
    );
    reporter.result(`pytorch:  ${files.safetensors}`);
    if (result.testAccuracy !== undefined && test !== undefined) {
      reporter.result(
        `test accuracy: student ${percent(result.testAccuracy)}, teacher ${percent(teacherAccuracy)} (${plural(test.count, 'image')}, ${test.what})`,
      );
    }
    if (result.aborted) {
      reporter.note(
        `stopped after ${plural(result.steps, 'step')} (${plural(result.history.length, 'finished epoch')}); the student trained so far is saved.`,
      );
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } finally {
    teacher.model.dispose();
    student?.dispose();
    Object.values(resume?.tensors ?? {}).forEach((t) => t.dispose());
  }
}
