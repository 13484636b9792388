/**
 * `natinv synthesize`: runs NaturalInversion, DeepInversion or Adaptive DeepInversion into a
 * resumable dataset folder (PNGs, labelled grids, safetensors batch files, manifest), with
 * progress on stderr.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { adiStudent, AdiStudent } from '../../apps/adi-student';
import { synthesizeConfiguredRun } from '../../dataset/configured-run';
import { batchGridPath, batchImagesPath, MANIFEST_FILE } from '../../dataset/format';
import { FolderConflictError } from '../../dataset/run';
import { parseShard, Shard, shardBatches, shardFromEnv } from '../../dataset/shard';
import { ZOO_ARCHITECTURES, ZooArchitecture } from '../../models/architectures';
import type { SynthesizedBatch } from '../../synthesis/batch';
import { checkSynthesisConfiguration, SynthesisConfiguration } from '../../synthesis/configuration';
import { CommandSpec, Options, ParsedArgs, UsageError } from '../args';
import { BACKEND_OPTION, chooseBackend } from '../backend';
import { CliIo, EXIT, formatDuration, plural, Reporter } from '../io';
import { Progress } from '../progress';
import { describeTuning, MethodName, METHODS, PAPER_SETTING, QUICK_SETTINGS, QuickTuning } from '../quick-settings';
import { assertCanTrainStudent, reportStudentRound, saveAdiStudent } from '../student';
import { classNamesFor, resolveTeacher, teacherOptions } from '../teacher';

const METHOD_TITLES: Record<MethodName, string> = {
  ni: 'NaturalInversion',
  di: 'DeepInversion',
  adi: 'Adaptive DeepInversion',
  fast: 'Fast inversion (a generator meta-learned across batches)',
};

// Runs estimated longer than this get a suggestion for a quicker setting.
const LONG_RUN_MS = 10 * 60_000;

export const SYNTHESIZE: CommandSpec = {
  name: 'synthesize',
  summary: 'Synthesize images from a pre-trained classifier into a dataset folder (PNGs, labelled grids, batch files).',
  description: [
    'With no arguments: one batch with NaturalInversion from the bundled CIFAR-10 ResNet-20, at a quick setting ' +
      'for the backend, written to natinv-out/ (PNGs per image and a labelled grid).',
    'Runs are resumable: rerun the same command and finished batches are skipped; a killed run loses only the ' +
      'batch in progress. Ctrl-C stops after the current step and keeps every finished batch (exit code 130).',
    'Without --batch-size/--steps a quick setting for the backend is used and announced; the papers use ' +
      `--batch-size ${PAPER_SETTING.batchSize} --steps ${PAPER_SETTING.steps}. Without --steps, DeepInversion and ` +
      `NaturalInversion also use a BatchNorm weight of 1 instead of ${PAPER_SETTING.bnWeight} (and DeepInversion a learning ` +
      `rate of 0.1 instead of ${PAPER_SETTING.learningRate}, with its pixels clipped to [0, 1] every step), which reach ` +
      'agreement in a few dozen steps; the settings used are recorded in the manifest.',
    '--method adi trains its student (knowledge distillation, one epoch on every image so far) after each batch and ' +
      'saves it to <out>/student/ as a tfjs model; since the student carries the run, an adi run cannot be sharded ' +
      'or resumed: rerun it with --overwrite or a new --out.',
    '--method fast keeps one generator across batches and adapts a copy of it for --steps inner steps per batch ' +
      '(default 5), so later batches start from what earlier ones learned; its state goes into <out>/state/ with ' +
      'every batch, so a rerun resumes exactly. Batches run in order; with --shard each shard learns its own generator ' +
      'from its own batches only (n shards each see 1/n of the batches, so each generator learns from fewer).',
  ],
  options: [
    {
      name: 'method',
      kind: 'string',
      value: 'NAME',
      choices: METHODS,
      help:
        'ni = NaturalInversion (generator + Feature Transfer Pyramid + adaptive channel scaling), di = DeepInversion ' +
        '(optimizes pixels), adi = Adaptive DeepInversion (DeepInversion against a student trained between batches), ' +
        'fast = a generator shared across batches and adapted for a few steps per batch (Fang et al. 2022).',
      default: 'ni',
    },
    {
      name: 'config',
      kind: 'string',
      value: 'FILE',
      help:
        'A JSON file with the run as data: {"method": "deepInversion", "adaptiveDeepInversion", "naturalInversion" or ' +
        '"fastInversion", "batchSize", "steps", "seed", and the method\'s settings (docs/methods.md, "A run as data")}. It replaces ' +
        '--method, --batch-size, --steps, --seed, --student-arch and --pyramid. Every run records its configuration in the ' +
        "folder's manifest, so reproduceRun (natinv/node) can make it again.",
      default: 'none: the run comes from --method, --batch-size, --steps and --seed',
    },
    ...teacherOptions(),
    {
      name: 'batches',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: 'Batches in the whole run (indices 0..N-1; with --shard, this process makes its share).',
      default: '1',
    },
    {
      name: 'batch-size',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: 'Images per batch.',
      default: `NI ${QUICK_SETTINGS.tensorflow.ni.batchSize} / DI and ADI ${QUICK_SETTINGS.tensorflow.di.batchSize} on tensorflow, ${QUICK_SETTINGS.wasm.ni.batchSize} / ${QUICK_SETTINGS.wasm.di.batchSize} on wasm, ${QUICK_SETTINGS.cpu.ni.batchSize} / ${QUICK_SETTINGS.cpu.di.batchSize} on cpu (quick settings; the papers use ${PAPER_SETTING.batchSize})`,
    },
    {
      name: 'steps',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: 'Optimization steps per batch.',
      default: `NI ${QUICK_SETTINGS.tensorflow.ni.steps} / DI and ADI ${QUICK_SETTINGS.tensorflow.di.steps} on tensorflow, ${QUICK_SETTINGS.wasm.ni.steps} / ${QUICK_SETTINGS.wasm.di.steps} on wasm, ${QUICK_SETTINGS.cpu.ni.steps} / ${QUICK_SETTINGS.cpu.di.steps} on cpu (the papers use ${PAPER_SETTING.steps})`,
    },
    { name: 'seed', kind: 'integer', value: 'N', min: 0, help: "Run seed; batch i's randomness depends only on (seed, i).", default: '0' },
    {
      name: 'out',
      kind: 'string',
      value: 'DIR',
      help: 'Dataset folder to write (created, or resumed when it holds this run).',
      default: 'natinv-out',
    },
    BACKEND_OPTION,
    {
      name: 'shard',
      kind: 'string',
      value: 'i/n',
      help:
        'Make only the batches of shard i of n (index % n == i); shards may share --out or write separate folders ' +
        "joined with natinv merge. In a Kubernetes indexed job, JOB_COMPLETION_INDEX with NATINV_SHARD_COUNT set to the job's completions does the same.",
      default: 'JOB_COMPLETION_INDEX/NATINV_SHARD_COUNT when set, else 0/1 (every batch)',
    },
    {
      name: 'class-names',
      kind: 'names',
      value: 'LIST',
      help: 'Class names for PNG file names and grid captions: cifar10, cifar100, none (class indices) or a comma-separated list.',
      default: 'the CIFAR-10/100 names for 10/100-class zoo teachers, else class indices',
    },
    {
      name: 'student-arch',
      kind: 'string',
      value: 'ARCH',
      choices: ZOO_ARCHITECTURES,
      help: 'Student architecture of --method adi, trained on the growing image pool between batches.',
      default: 'resnet20',
    },
    {
      name: 'pyramid',
      kind: 'flag',
      help: "--method fast: add NaturalInversion's Feature Transfer Pyramid (shared, meta-learned) and adaptive channel scaling on top of the generator.",
    },
    {
      name: 'overwrite',
      kind: 'flag',
      help: 'If --out holds a different run, delete that dataset and start over (otherwise it is refused).',
    },
    { name: 'png', kind: 'flag', negatable: true, help: 'Write only the safetensors batch files: no per-image PNGs and no grids.' },
    {
      name: 'json',
      kind: 'flag',
      help: 'Print one JSON object per line on stdout (start, estimate, step, batch, done, error) for scripts.',
    },
  ],
  examples: [
    'natinv synthesize',
    'natinv synthesize --method di --batches 4 --batch-size 64 --steps 2000 --out di-run',
    'natinv synthesize --arch resnet56 --weights cifar10_resnet56.safetensors --batches 100 --shard 0/4 --out shard-0',
    'natinv synthesize --teacher my-model/ --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --taps block3,block2,block1',
  ],
};

/** The flags that shape a run beside batch size, steps and seed. */
interface MethodFlags {
  readonly studentArch: ZooArchitecture;
  readonly pyramid: boolean;
  /** The teacher's feature taps (its own, or --taps). */
  readonly featureTaps: readonly string[];
}

/** The SynthesisConfiguration a run from flags describes: the method at its quick tuning (if any) or the papers' settings. */
function configurationFromFlags(
  method: MethodName,
  common: { batchSize: number; steps: number; seed: number },
  tuning: QuickTuning | undefined,
  flags: MethodFlags,
): SynthesisConfiguration {
  // Only the fields set: the record is compared as JSON, which has no undefined.
  const weights = tuning?.weights === undefined ? {} : { weights: { ...tuning.weights } };
  const deepInversion = {
    ...common,
    ...weights,
    ...(tuning?.learningRate === undefined ? {} : { learningRate: tuning.learningRate }),
    ...(tuning?.clipPixels === undefined ? {} : { clipPixels: tuning.clipPixels }),
  };
  // The taps in use (the teacher's, or --taps) are part of the run: a reproduction reads them from here.
  const featureTaps = { featureTaps: [...flags.featureTaps] };
  switch (method) {
    case 'ni':
      return { method: 'naturalInversion', ...common, ...weights, ...featureTaps };
    case 'di':
      return { method: 'deepInversion', ...deepInversion };
    case 'adi':
      return { method: 'adaptiveDeepInversion', ...deepInversion, student: { arch: flags.studentArch } };
    case 'fast':
      return { method: 'fastInversion', ...common, ...(flags.pyramid ? { pyramid: true, ...featureTaps } : {}) };
  }
}

/** True for a configuration whose method feeds teacher feature maps to a pyramid. */
function usesFeatureTaps(configuration: SynthesisConfiguration): boolean {
  return configuration.method === 'naturalInversion' || (configuration.method === 'fastInversion' && configuration.pyramid === true);
}

/** The --config file's run, checked; the flags it replaces are refused beside it. */
async function readConfigOption(options: Options, cwd: string): Promise<SynthesisConfiguration | undefined> {
  const file = options.string('config');
  if (file === undefined) return undefined;
  const replaced = ['method', 'batch-size', 'steps', 'seed', 'student-arch', 'pyramid'].filter((name) => options.has(name));
  if (replaced.length > 0) {
    throw new UsageError(
      `natinv synthesize: --config sets the method and its settings; leave out ${replaced.map((n) => `--${n}`).join(', ')}.`,
    );
  }
  let text: string;
  try {
    text = await fs.promises.readFile(path.resolve(cwd, file), 'utf8');
  } catch (error) {
    throw new UsageError(
      `natinv synthesize: --config ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}.`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`natinv synthesize: --config ${file} is not JSON: ${(error as Error).message}.`);
  }
  try {
    return checkSynthesisConfiguration(value, file);
  } catch (error) {
    throw new UsageError(`natinv synthesize: --config ${(error as Error).message}`);
  }
}

function chooseShard(options: Options, env: Readonly<Record<string, string | undefined>>): Shard {
  const text = options.string('shard');
  try {
    return text !== undefined ? parseShard(text) : shardFromEnv(env);
  } catch (cause) {
    throw new UsageError(`natinv synthesize: ${(cause as Error).message}`);
  }
}

/** Rejects option combinations that cannot work, before anything heavy starts. */
function checkMethod(options: Options, shard: Shard): MethodName {
  const method = (options.string('method') ?? 'ni') as MethodName;
  if (options.has('student-arch') && method !== 'adi') {
    throw new UsageError('natinv synthesize: --student-arch applies to --method adi only.');
  }
  if (options.has('pyramid') && method !== 'fast') {
    throw new UsageError('natinv synthesize: --pyramid applies to --method fast only (NaturalInversion always has its pyramid).');
  }
  if (method === 'adi' && shard.count > 1) {
    throw new UsageError(
      `natinv synthesize: --method adi cannot be sharded (shard ${shard.index}/${shard.count}): its student learns from ` +
        'every batch in turn, in one process. Run it unsharded, or use --method di or ni.',
    );
  }
  return method;
}

// Synthesis holds the teacher's activations of the whole batch, with their gradients: counted for
// the CIFAR ResNets, a few hundred times the batch's own pixels. 100x is a floor, not an estimate.
const MEMORY_PER_PIXEL_BYTES = 4 * 100;

/** Refuses, before anything starts, a batch that cannot fit in this machine's memory. */
function checkBatchFits(batchSize: number, [height, width, channels]: readonly number[]): void {
  const values = batchSize * height * width * channels;
  const total = os.totalmem();
  if (values <= 2 ** 31 - 1 && values * MEMORY_PER_PIXEL_BYTES <= total) return;
  const gb = (bytes: number): string => `${(bytes / 1024 ** 3).toPrecision(3)} GB`;
  throw new UsageError(
    `natinv synthesize: --batch-size ${batchSize} does not fit: its ${height}x${width}x${channels} images alone take ` +
      `${gb(values * 4)} as float32 and synthesis needs at least ${gb(values * MEMORY_PER_PIXEL_BYTES)} for the teacher's ` +
      `activations, on a machine with ${gb(total)}. Use a smaller --batch-size (the papers use ${PAPER_SETTING.batchSize}) and more --batches.`,
  );
}

const SHORT_NAMES: Record<SynthesisConfiguration['method'], MethodName> = {
  naturalInversion: 'ni',
  deepInversion: 'di',
  adaptiveDeepInversion: 'adi',
  fastInversion: 'fast',
};

/** A folder conflict in the command line's words (the library's names its overwrite option). */
function conflictInFlags(error: unknown): unknown {
  if (!(error instanceof FolderConflictError)) return error;
  return new Error(`${error.conflict}\nUse a new --out for this run, or pass --overwrite to delete the old batches and start over.`);
}

/** Runs `natinv synthesize`; returns the exit code. */
export async function synthesizeCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  const now = io.now ?? Date.now;
  const shard = chooseShard(options, env);
  const fromFile = await readConfigOption(options, cwd);
  const method: MethodName = fromFile === undefined ? checkMethod(options, shard) : SHORT_NAMES[fromFile.method];
  const out = path.resolve(cwd, options.string('out') ?? 'natinv-out');
  const batches = options.number('batches') ?? 1;

  const backend = await chooseBackend(options.string('backend'), env, reporter, method === 'adi' ? 'training' : 'synthesis');
  if (method === 'adi') assertCanTrainStudent(backend.name);
  const resolved = await resolveTeacher(options, { command: 'natinv synthesize', cwd });
  const { teacher } = resolved;
  let student: AdiStudent | undefined;
  try {
    const quick = QUICK_SETTINGS[backend.name][method];
    const batchSize = fromFile?.batchSize ?? options.number('batch-size') ?? quick.batchSize;
    const steps = fromFile?.steps ?? options.number('steps') ?? quick.steps;
    // The tuning goes with the quick schedule: at the steps a user chose, the papers' settings apply.
    const tuning = fromFile !== undefined || options.has('steps') ? undefined : quick.tuning;
    const seed = fromFile?.seed ?? options.number('seed') ?? 0;
    const usesPyramid = fromFile === undefined ? method === 'ni' || options.flag('pyramid') : usesFeatureTaps(fromFile);
    const tapsGiven = fromFile !== undefined && 'featureTaps' in fromFile && fromFile.featureTaps !== undefined;
    if (usesPyramid && teacher.featureTaps.length === 0 && !tapsGiven) {
      throw new UsageError(
        `natinv synthesize: NaturalInversion feeds teacher feature maps to its pyramid, and natinv does not know which layers of ` +
          `${teacher.name} to use; name them with --taps (deepest first; natinv inspect lists candidates), or use --method di.`,
      );
    }
    const flags: MethodFlags = {
      studentArch: (options.string('student-arch') ?? 'resnet20') as ZooArchitecture,
      pyramid: options.flag('pyramid'),
      featureTaps: teacher.featureTaps,
    };
    const configuration = fromFile ?? configurationFromFlags(method, { batchSize, steps, seed }, tuning, flags);
    const classNames = classNamesFor(resolved, options.names('class-names'), 'natinv synthesize');
    const png = options.flag('png', true);
    checkBatchFits(batchSize, teacher.inputShape);

    reporter.note(`${METHOD_TITLES[method]} on ${resolved.description}; backend ${backend.name}; writing to ${out}`);
    if (fromFile === undefined && (!options.has('batch-size') || !options.has('steps'))) {
      // The time quoted was measured for exactly this: one quick batch from the bundled teacher.
      const typical = !options.has('batch-size') && !options.has('steps') && batches === 1 && resolved.bundled;
      const cpuHint = backend.name === 'cpu' ? ' The cpu backend is pure JavaScript: --backend wasm is many times faster.' : '';
      reporter.note(
        `quick setting for the ${backend.name} backend: ${Progress.describe(batches, batchSize, steps)}` +
          `${tuning === undefined ? '' : `, ${describeTuning(tuning)}`}` +
          `${typical ? ` (${quick.about} on a 2-core machine)` : ''}. ` +
          `The papers' setting is --batch-size ${PAPER_SETTING.batchSize} --steps ${PAPER_SETTING.steps}.${cpuHint}`,
      );
    }
    reporter.event('start', {
      method: configuration.method,
      teacher: teacher.name,
      backend: backend.name,
      out,
      batches,
      batchSize,
      steps,
      seed,
      shard,
    });

    const controller = new AbortController();
    const stop = (): void => controller.abort();
    io.signal?.addEventListener('abort', stop);
    if (io.signal?.aborted === true) controller.abort();

    const started = now();
    let pending: readonly number[] = [];
    const progress = new Progress(reporter, now, (totalMs, stepMs) => {
      const makes = Progress.describe(pending.length, batchSize, steps);
      reporter.note(`estimated time: ${formatDuration(totalMs)} for ${makes} (${(stepMs / 1000).toFixed(2)} s/step, measured)`);
      reporter.event('estimate', { seconds: Math.round(totalMs / 1000), secondsPerStep: stepMs / 1000 });
      if (totalMs > LONG_RUN_MS) {
        const quickMs = (stepMs / batchSize) * quick.batchSize * quick.steps * pending.length;
        const faster = backend.name === 'cpu' ? ', or --backend wasm (many times faster), or install @tensorflow/tfjs-node' : '';
        reporter.note(
          `that is long: for a quick look leave out --batch-size and --steps (the quick setting, about ${formatDuration(quickMs)})${faster}.`,
        );
      }
    });
    let competition: AdiStudent | undefined;
    if (configuration.method === 'adaptiveDeepInversion') {
      let roundStarted = now();
      student = adiStudent(teacher, configuration, {
        signal: controller.signal,
        onRound: reportStudentRound(reporter, now, configuration.student.arch, () => roundStarted),
      });
      const { trainStudent } = student;
      competition = {
        ...student,
        trainStudent: (pool) => {
          roundStarted = now();
          return trainStudent(pool);
        },
      };
    }
    const written: SynthesizedBatch[] = [];
    let summary;
    try {
      summary = await synthesizeConfiguredRun({
        folder: out,
        teacher,
        configuration,
        batches,
        shard,
        classNames,
        annotations: classNames === undefined ? undefined : { classNames: [...classNames] },
        png,
        grid: png,
        overwrite: options.flag('overwrite'),
        signal: controller.signal,
        competition,
        onStep: progress.step.bind(progress),
        onPlan: (indices) => {
          pending = indices;
          const owned = shardBatches(shard, batches).length;
          if (indices.length < owned) {
            reporter.note(
              `resuming: ${owned - indices.length} of ${plural(owned, 'batch', 'batches')} already in ${out}; making ${indices.length} more`,
            );
          }
          progress.begin({ batches: indices.length, batchSize, steps, runBatches: batches });
        },
        onBatch: (batch, done) => {
          written.push(batch);
          progress.batchDone(batch, png ? batchGridPath(out, batch.index) : out);
          reporter.event('batch', {
            index: batch.index,
            loss: batch.loss,
            terms: batch.terms,
            targets: Array.from(batch.targets),
            predictions: Array.from(batch.predictions),
            confidence: Array.from(batch.confidence),
            grid: png ? batchGridPath(out, batch.index) : null,
            images: png ? batchImagesPath(out, batch.index) : null,
            done: done.done,
            total: done.total,
          });
        },
      });
    } catch (error) {
      throw conflictInFlags(error);
    } finally {
      io.signal?.removeEventListener('abort', stop);
      progress.clearLine();
    }
    const seconds = (now() - started) / 1000;
    reporter.event('done', {
      out,
      written: summary.written,
      skipped: summary.skipped,
      corrupt: summary.corrupt,
      aborted: summary.aborted,
      seconds,
    });
    if (summary.corrupt.length > 0)
      reporter.note(`redid ${plural(summary.corrupt.length, 'corrupt batch file')}: ${summary.corrupt.join(', ')}`);
    if (student !== undefined && student.rounds() > 0) {
      const file = await saveAdiStudent(student, teacher, out, classNames);
      reporter.result(`student:  ${file} (${student.arch} after ${plural(student.rounds(), 'round')} of distillation)`);
      reporter.event('student-saved', { file, rounds: student.rounds() });
    }
    if (summary.aborted) {
      const again = method === 'adi' ? 'an adi run cannot resume: rerun it with --overwrite.' : 'rerun the same command to continue.';
      reporter.note(`stopped: ${plural(summary.written.length, 'batch', 'batches')} written this time; ${again}`);
      return EXIT.interrupted;
    }
    const images = summary.written.length * batchSize;
    if (summary.written.length === 0) {
      reporter.note(`nothing to do: every batch of this run is already in ${out} (${plural(summary.skipped.length, 'batch', 'batches')}).`);
    } else {
      reporter.note(
        `wrote ${plural(summary.written.length, 'batch', 'batches')} (${plural(images, 'image')}) in ${formatDuration(seconds * 1000)}` +
          (summary.skipped.length > 0 ? `, skipped ${summary.skipped.length} finished` : ''),
      );
    }
    const first = written[0]?.index ?? summary.skipped[0];
    if (png && first !== undefined) {
      reporter.result(
        `grid:     ${batchGridPath(out, first)}${written.length + summary.skipped.length > 1 ? ' (one per batch in grids/)' : ''}`,
      );
      reporter.result(
        `images:   ${batchImagesPath(out, first)}${written.length + summary.skipped.length > 1 ? ' (one folder per batch in images/)' : ''}`,
      );
    }
    reporter.result(`manifest: ${path.join(out, MANIFEST_FILE)}`);
    return EXIT.ok;
  } finally {
    // The teacher and the student were made for this command; free their weights.
    teacher.model.dispose();
    student?.student.dispose();
  }
}
