/**
 * `natinv distill` without `--data`: data-free distillation in one resumable command. Rounds of
 * {synthesize a batch against the current student, add it to the pool, KD steps on the pool}
 * under a time budget or a round count (dataFreeDistill); the student, the pool (a dataset
 * folder), checkpoints, training.json and an accuracy chart go to --out. Rerunning the same
 * command continues a stopped run where its last checkpoint left it.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { dataFreeDistill, DataFreeDistillResult, Evaluation, RoundReport } from '../../apps/data-free-distill';
import { CHECKPOINT_FILE, loadDataFreeCheckpoint, POOL_DIR, saveDataFreeCheckpoint } from '../../apps/data-free-folder';
import { lineChartPng } from '../../io/chart';
import { nodeZlib } from '../../io/node-zlib';
import { writeFileAtomic } from '../../io/files';
import type { Teacher } from '../../models/teacher';
import { fastSynthesizer } from '../../synthesis/fast';
import { deepInversionSynthesizer, naturalInversionSynthesizer } from '../../synthesis/per-batch-synthesizers';
import type { BatchSynthesizer } from '../../synthesis/synthesizer';
import { tapNetwork } from '../../taps';
import { OptionSpec, Options, ParsedArgs, UsageError } from '../args';
import { chooseBackend } from '../backend';
import { CliIo, EXIT, formatDuration, formatNumber, plural, Reporter } from '../io';
import { assertCanTrainStudent } from '../student';
import { classNamesFor, resolveTeacher } from '../teacher';
import { checkPositive, checkTestFile, percent, prepareOut, readTestSet, saveTrained, TestSet, TRAINING_FILE } from '../training';
import { chooseStudent, freshStudent, loadStudent, studentFolderMetadata } from '../kd-student';

/** The synthesis methods the loop offers, by their short names. */
export const LOOP_METHODS = ['fast', 'ni', 'di'] as const;
export type LoopMethod = (typeof LOOP_METHODS)[number];

/** Synthesis steps per batch by method (the fast method's inner steps). */
const SYNTHESIS_STEPS: Record<LoopMethod, number> = { fast: 5, ni: 50, di: 50 };
/** The loop's defaults (the common data-free KD recipe), shown in --help. */
export const LOOP_DEFAULTS = { minutes: 60, kdSteps: 20, imagesPerRound: 128, weightDecay: 5e-4, evaluateEvery: 10, checkpointMinutes: 5 };
/** The accuracy chart written next to the student. */
export const CHART_FILE = 'accuracy.png';

/** Options only the loop (no --data) takes. */
export const LOOP_OPTIONS: OptionSpec[] = [
  {
    name: 'method',
    kind: 'string',
    value: 'NAME',
    choices: LOOP_METHODS,
    help:
      'Without --data: how each round synthesizes its batch. fast: one generator kept across rounds, adapted per batch ' +
      '(Fang et al. 2022); ni: NaturalInversion, a fresh generator + FTP + ACS per batch; di: DeepInversion pixels.',
    default: 'fast',
  },
  {
    name: 'minutes',
    kind: 'number',
    value: 'N',
    help: 'Without --data: time budget of synthesis + KD (evaluation and checkpoints not counted).',
    default: String(LOOP_DEFAULTS.minutes),
  },
  {
    name: 'rounds',
    kind: 'integer',
    value: 'N',
    min: 1,
    help: 'Without --data: run exactly N rounds instead of --minutes.',
    default: 'none: --minutes',
  },
  {
    name: 'clock',
    kind: 'string',
    value: 'NAME',
    choices: ['wall', 'cpu'],
    help: "What --minutes measures: wall time, or this process's CPU time (for a shared, loaded machine).",
    default: 'wall',
  },
  { name: 'kd-steps', kind: 'integer', value: 'N', min: 1, help: 'Without --data: KD steps per round.', default: '20' },
  {
    name: 'images-per-round',
    kind: 'integer',
    value: 'N',
    min: 1,
    help: 'Without --data: images synthesized per round.',
    default: String(LOOP_DEFAULTS.imagesPerRound),
  },
  {
    name: 'synthesis-steps',
    kind: 'integer',
    value: 'N',
    min: 1,
    help: 'Without --data: optimization steps per synthesized batch.',
    default: 'fast 5, ni 50, di 50',
  },
  {
    name: 'pool-limit',
    kind: 'integer',
    value: 'N',
    min: 1,
    help: 'Without --data: most images kept in the pool (the oldest batches are dropped).',
    default: 'no limit',
  },
  {
    name: 'competition',
    kind: 'flag',
    negatable: true,
    help: "Without --data: synthesize without the student term (fast: the adversarial term; ni, di: ADI's competition).",
  },
  {
    name: 'checkpoint-minutes',
    kind: 'number',
    value: 'N',
    min: 0,
    help: 'Without --data: wall minutes between checkpoints (one is also written at the end and at Ctrl-C); 0 = after every round.',
    default: String(LOOP_DEFAULTS.checkpointMinutes),
  },
  {
    name: 'evaluate-every',
    kind: 'integer',
    value: 'N',
    min: 1,
    help: 'Without --data: score --test every N rounds (and after the last).',
    default: '10',
  },
];

/** Options of data mode that the loop does not take. */
const DATA_ONLY = ['epochs', 'checkpoint-every', 'checkpoints', 'follow', 'idle-timeout'];

function checkLoopOptions(options: Options, command: string): void {
  for (const name of DATA_ONLY) {
    if (options.has(name)) {
      throw new UsageError(
        `${command}: --${name} applies to distillation on a dataset folder (--data); without --data the loop runs --minutes or --rounds.`,
      );
    }
  }
  if (options.has('minutes') && options.has('rounds')) {
    throw new UsageError(`${command}: give --minutes (a time budget) or --rounds (a round count), not both.`);
  }
  if (options.has('minutes')) {
    const minutes = options.number('minutes') as number;
    if (!(minutes > 0))
      throw new UsageError(`${command}: --minutes must be greater than 0 (a budget of ${minutes} leaves no time to train).`);
  }
  for (const name of ['lr', 'temperature']) checkPositive(options, name, command);
}

/** Usage error unless the teacher has the BatchNorm layers every loop method matches. */
function checkBatchNorm(teacher: Teacher, method: LoopMethod, command: string): void {
  if (tapNetwork(teacher.model).batchNormLayers.length === 0) {
    throw new UsageError(
      `${command}: --method ${method} matches the teacher's BatchNorm statistics, but ${teacher.name} has no BatchNormalization ` +
        'layer; give a teacher with BatchNorm, or synthesize with your own objective and distill with --data.',
    );
  }
}

function synthesizerFor(
  method: LoopMethod,
  teacher: Teacher,
  settings: { batchSize: number; steps: number; seed: number; competition: boolean },
): BatchSynthesizer {
  const { batchSize, steps, seed, competition } = settings;
  if (method === 'fast') return fastSynthesizer(teacher, { batchSize, innerSteps: steps, seed, adversarial: { warmupBatches: 20 } });
  if (method === 'ni') return naturalInversionSynthesizer(teacher, { batchSize, steps, seed, competition });
  return deepInversionSynthesizer(teacher, { batchSize, steps, seed, competition });
}

/** Removes what an earlier loop run left in --out (with --overwrite). */
function clearLoopRun(out: string): void {
  if (!fs.existsSync(out)) return;
  for (const name of fs.readdirSync(out)) {
    if (name === CHECKPOINT_FILE || name === POOL_DIR || /^state-\d+\.safetensors$/.test(name)) {
      fs.rmSync(path.join(out, name), { recursive: true, force: true });
    }
  }
}

function evaluationJson(e: Evaluation): Record<string, unknown> {
  return {
    round: e.round,
    minutes: Number((e.elapsedMs / 60_000).toFixed(3)),
    images: e.imagesSynthesized,
    kdSteps: e.kdSteps,
    accuracy: e.accuracy,
  };
}

/** Runs `natinv distill` without --data; returns the exit code. */
export async function distillLoopCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  const command = 'natinv distill';

  checkLoopOptions(options, command);
  const testFile = checkTestFile(options, cwd, command);
  const overwrite = options.flag('overwrite');
  const outText = options.string('out') ?? 'natinv-student';
  const out = path.resolve(cwd, outText);
  const resuming = !overwrite && fs.existsSync(path.join(out, CHECKPOINT_FILE));
  if (!resuming) prepareOut(outText, cwd, overwrite, command);
  const { arch, studentFolder } = chooseStudent(options, cwd, command);
  const method = (options.string('method') ?? 'fast') as LoopMethod;
  const seed = options.number('seed') ?? 0;
  const rounds = options.number('rounds');
  const minutes = rounds === undefined ? (options.number('minutes') ?? LOOP_DEFAULTS.minutes) : undefined;
  const clockName = options.string('clock') ?? 'wall';
  const configuration = {
    command: 'distill',
    method,
    rounds: rounds ?? null,
    minutes: minutes ?? null,
    clock: clockName,
    kdSteps: options.number('kd-steps') ?? LOOP_DEFAULTS.kdSteps,
    imagesPerRound: options.number('images-per-round') ?? LOOP_DEFAULTS.imagesPerRound,
    synthesisSteps: options.number('synthesis-steps') ?? SYNTHESIS_STEPS[method],
    competition: options.flag('competition', true),
    poolLimit: options.number('pool-limit') ?? null,
    batchSize: options.number('batch-size') ?? 128,
    learningRate: options.number('lr') ?? 0.1,
    momentum: options.number('momentum') ?? 0.9,
    weightDecay: options.number('weight-decay') ?? LOOP_DEFAULTS.weightDecay,
    temperature: options.number('temperature') ?? 20,
    augmentation: options.flag('augment', true),
    seed,
    student: studentFolder ?? null,
    studentArch: studentFolder === undefined ? arch : null,
    teacher: options.string('arch') ?? options.string('teacher') ?? 'bundled',
    weights: options.string('weights') ?? null,
  };

  const backend = await chooseBackend(options.string('backend'), env, reporter, 'training');
  assertCanTrainStudent(backend.name, command, 'distill trains the student');
  const resolved = await resolveTeacher(options, { command, cwd });
  const { teacher } = resolved;
  let student: tfl.LayersModel | undefined;
  let synthesizer: BatchSynthesizer | undefined;
  let resumeTensors: Record<string, { dispose(): void }> = {};
  try {
    checkBatchNorm(teacher, method, command);
    const test: TestSet | undefined = testFile === undefined ? undefined : await readTestSet(testFile, options, teacher, command);
    const classNames = classNamesFor(resolved, undefined, command);
    const loaded = resuming ? await loadDataFreeCheckpoint(out) : undefined;
    if (loaded !== undefined && JSON.stringify(loaded.configuration) !== JSON.stringify(configuration)) {
      throw new UsageError(
        `${command}: --out ${outText} holds a run of other settings; rerun it with the same options to continue, ` +
          `pass --overwrite to start over, or choose another --out. Saved: ${JSON.stringify(loaded.configuration)}`,
      );
    }
    resumeTensors = loaded?.snapshot.tensors ?? {};
    const made =
      studentFolder !== undefined ? await loadStudent(studentFolder, teacher, command) : freshStudent(arch, teacher, seed, command);
    student = made.model;
    synthesizer = synthesizerFor(method, teacher, {
      batchSize: configuration.imagesPerRound,
      steps: configuration.synthesisSteps,
      seed,
      competition: configuration.competition,
    });
    reporter.note(
      `distilling ${resolved.description} into ${made.description} without data: --method ${method}, ` +
        `${rounds !== undefined ? plural(rounds, 'round') : `${minutes} ${clockName} minutes`}; backend ${backend.name}; writing to ${out}`,
    );
    if (loaded !== undefined) reporter.note(`continuing the run in ${out} after round ${loaded.snapshot.json.round}`);
    if (overwrite) clearLoopRun(out);
    let teacherAccuracy: number | undefined;
    if (test !== undefined) {
      const { testAccuracy } = await import('../training');
      teacherAccuracy = await testAccuracy(teacher.model, test, teacher, teacher.normalization);
      reporter.note(`teacher on ${plural(test.count, 'test image')} (${test.what}): ${percent(teacherAccuracy)}`);
    }
    reporter.event('start', { ...configuration, backend: backend.name, out, resumedAtRound: loaded?.snapshot.json.round ?? null });

    const cpuClock = (): number => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1000;
    };
    const onRound = (r: RoundReport): void => {
      const eta = r.etaMs === undefined ? '' : `  ETA ${formatDuration(r.etaMs)}`;
      reporter.note(
        `round ${r.round}/${r.rounds ?? '?'}  kd ${formatNumber(r.kdLoss)}  pool ${r.poolSize}  test ${percent(r.lastTestAccuracy)}` +
          `  ${formatDuration(r.elapsedMs)} (synthesis ${formatDuration(r.synthesisMs)})${eta}`,
      );
      reporter.event('round', { ...r });
    };
    const result: DataFreeDistillResult = await dataFreeDistill({
      teacher,
      student,
      synthesizer,
      ...(rounds !== undefined ? { rounds } : { budgetMs: (minutes as number) * 60_000 }),
      clock: clockName === 'cpu' ? cpuClock : Date.now,
      kdSteps: configuration.kdSteps,
      batchSize: configuration.batchSize,
      learningRate: configuration.learningRate,
      momentum: configuration.momentum,
      weightDecay: configuration.weightDecay,
      temperature: configuration.temperature,
      augmentation: configuration.augmentation ? undefined : false,
      poolLimit: configuration.poolLimit ?? undefined,
      synthesizeAgainstStudent: configuration.competition,
      seed,
      studentNormalization: made.normalization ?? teacher.normalization,
      testSet: test === undefined ? undefined : { images01: test.images01, labels: test.labels },
      evaluateEvery: options.number('evaluate-every') ?? LOOP_DEFAULTS.evaluateEvery,
      resume: loaded?.snapshot,
      signal: io.signal,
      checkpoint: (snapshot) => saveDataFreeCheckpoint(out, snapshot, configuration),
      checkpointEveryMs: (options.number('checkpoint-minutes') ?? LOOP_DEFAULTS.checkpointMinutes) * 60_000,
      onRound,
    });

    const studentName = made.arch ?? made.model.name;
    const metadata = studentFolderMetadata(teacher, made, classNames);
    const summary = {
      ...configuration,
      roundsDone: result.rounds,
      plannedRounds: result.plannedRounds,
      imagesSynthesized: result.imagesSynthesized,
      kdStepsDone: result.kdSteps,
      poolSize: result.pool.reduce((n, b) => n + b.shape[0], 0),
      aborted: result.aborted,
      minutes: { elapsed: result.elapsedMs / 60_000, synthesis: result.synthesisMs / 60_000, kd: result.kdMs / 60_000 },
      testAccuracy: result.testAccuracy ?? null,
      teacherAccuracy: teacherAccuracy ?? null,
      accuracyOverTime: result.evaluations.map(evaluationJson),
    };
    const files = await saveTrained(student, out, metadata, summary);
    const chart = path.join(out, CHART_FILE);
    if (result.evaluations.length > 0) {
      const points = result.evaluations.map((e): [number, number] => [e.elapsedMs / 60_000, 100 * e.accuracy]);
      await writeFileAtomic(
        chart,
        lineChartPng([{ name: `${method} -> ${studentName}`, points }], {
          title: `student top-1 on ${test?.what ?? 'the test set'}`,
          xLabel: `${clockName} minutes (synthesis + KD)`,
          yLabel: '%',
          yMax: 100,
          zlib: nodeZlib,
        }),
      );
    }
    reporter.event('done', {
      ...summary,
      files: { ...files, pool: path.join(out, POOL_DIR), chart: result.evaluations.length > 0 ? chart : null },
    });
    reporter.result(
      `student:  ${files.modelJson} (${studentName}, ${plural(result.rounds, 'round')}, ${plural(result.imagesSynthesized, 'image')} synthesized, ` +
        `${plural(result.kdSteps, 'KD step')} in ${formatDuration(result.elapsedMs)})`,
    );
    reporter.result(`pytorch:  ${files.safetensors}`);
    reporter.result(`pool:     ${path.join(out, POOL_DIR)}; ${TRAINING_FILE} and ${CHART_FILE} beside the student`);
    if (result.testAccuracy !== undefined && test !== undefined) {
      reporter.result(
        `test accuracy: student ${percent(result.testAccuracy)}, teacher ${percent(teacherAccuracy)} (${plural(test.count, 'image')}, ${test.what})`,
      );
    }
    if (result.aborted) {
      reporter.note(`stopped after ${plural(result.rounds, 'round')}; the student so far is saved. Rerun the same command to continue.`);
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } finally {
    Object.values(resumeTensors).forEach((t) => t.dispose());
    synthesizer?.dispose();
    teacher.model.dispose();
    student?.dispose();
  }
}
