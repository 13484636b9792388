/**
 * What `natinv distill` and `natinv prune` share: the training options, the dataset folder and
 * CIFAR test set they read (checked against the network before any training starts), the output
 * folder (tfjs model + PyTorch-named safetensors + per-epoch checkpoints + training.json), top-1
 * accuracy, and per-epoch progress with the loss, test accuracy and ETA.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochReport, TrainingOptions, TrainStepReport } from '../apps/loop';
import { checkpointFileName, TrainingSnapshot } from '../apps/checkpoint';
import { loadTrainingCheckpoint, RESUME_FILE } from '../apps/checkpoint-folder';
import { resolveLabelled } from '../apps/images';
import { predictTestSet } from '../apps/test-set';
import { MANIFEST_FILE } from '../dataset/format';
import { Dataset, readDataset } from '../dataset/reader';
import { readCifarFile, writeFileAtomic, writeSafetensorsFile } from '../io/files';
import { exportPytorchWeights } from '../models/pytorch-weights';
import type { InputNormalization, Teacher } from '../models/teacher';
import { Options, OptionSpec, UsageError } from './args';
import { formatDuration, formatNumber, formatTerms, plural, Reporter } from './io';
import { MODEL_JSON, saveModelFolder, TeacherMetadata } from '../models/model-folder';
import { fitLine } from './progress';
import { topOneAccuracy } from '../metrics/accuracy';

/** Folder inside --out that receives `epoch-NNNN.safetensors` checkpoints. */
export const CHECKPOINTS_DIR = 'checkpoints';
/** The trained network's weights under PyTorch names, next to model.json. */
export const PYTORCH_FILE = 'model.safetensors';
/** The run's configuration and per-epoch history, next to model.json. */
export const TRAINING_FILE = 'training.json';

/** Defaults of one training application, shown in --help. */
export interface TrainingDefaults {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  /** How the learning rate moves, for the --lr help. */
  readonly schedule: string;
}

/** The options that steer training (epochs, batch size, SGD, augmentation, seed, checkpoints). */
export function trainingOptions(defaults: TrainingDefaults, when = '', seeds = 'the shuffling and augmentation draws'): OptionSpec[] {
  return [
    { name: 'epochs', kind: 'integer', value: 'N', min: 1, help: `Passes over the dataset${when}.`, default: String(defaults.epochs) },
    {
      name: 'batch-size',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: `Images per optimizer step${when}.`,
      default: String(defaults.batchSize),
    },
    {
      name: 'lr',
      kind: 'number',
      value: 'RATE',
      help: `Learning rate of SGD (${defaults.schedule}).`,
      default: String(defaults.learningRate),
    },
    { name: 'momentum', kind: 'number', value: 'M', min: 0, help: 'SGD momentum (PyTorch semantics, dampening 0).', default: '0.9' },
    {
      name: 'weight-decay',
      kind: 'number',
      value: 'W',
      min: 0,
      help: "Coupled L2 weight decay (PyTorch SGD's weight_decay).",
      default: String(defaults.weightDecay),
    },
    {
      name: 'augment',
      kind: 'flag',
      negatable: true,
      help: 'Train on the images as they are, without the random crop (4 px zero padding) and horizontal flip.',
    },
    { name: 'seed', kind: 'integer', value: 'N', min: 0, help: `Seed of ${seeds}.`, default: '0' },
    {
      name: 'checkpoint-every',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: `Write <out>/${CHECKPOINTS_DIR}/epoch-NNNN.safetensors (PyTorch names) after every N epochs and after the last.`,
      default: '1',
    },
    { name: 'checkpoints', kind: 'flag', negatable: true, help: 'Write no per-epoch checkpoints.' },
  ];
}

/** The options naming the test set scored after every epoch. */
export function testOptions(what: string): OptionSpec[] {
  return [
    {
      name: 'test',
      kind: 'string',
      value: 'FILE',
      help: `A CIFAR binary file (.bin or .bin.gz, e.g. test_batch.bin.gz) on which top-1 accuracy is measured ${what}.`,
      default: 'none',
    },
    {
      name: 'test-layout',
      kind: 'string',
      value: 'NAME',
      choices: ['cifar10', 'cifar100'],
      help: 'Record layout of --test: cifar10 (1 label byte) or cifar100 (coarse + fine label bytes; scored on fine labels).',
      default: 'cifar10',
    },
    {
      name: 'test-limit',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: 'Score only the first N images of --test (faster on slow backends).',
      default: 'all',
    },
  ];
}

/** Usage error unless option `name`, when given, is above 0. */
export function checkPositive(options: Options, name: string, command: string): void {
  const value = options.number(name);
  if (value !== undefined && !(value > 0)) throw new UsageError(`${command}: --${name} must be greater than 0, got ${value}.`);
}

/** The SGD settings the command line gives, as TrainingOptions fields. */
export function trainingSettings(options: Options): TrainingOptions {
  const pick = <K extends keyof TrainingOptions>(key: K, value: TrainingOptions[K] | undefined): Partial<TrainingOptions> =>
    value === undefined ? {} : { [key]: value };
  return {
    ...pick('epochs', options.number('epochs')),
    ...pick('batchSize', options.number('batch-size')),
    ...pick('learningRate', options.number('lr')),
    ...pick('momentum', options.number('momentum')),
    ...pick('weightDecay', options.number('weight-decay')),
    ...(options.flag('augment', true) ? {} : { augmentation: false as const }),
    seed: options.number('seed') ?? 0,
  };
}

/** Rejects --checkpoint-every with --no-checkpoints; returns how often to write checkpoints (0: never). */
export function checkpointEvery(options: Options, command: string): number {
  const none = !options.flag('checkpoints', true);
  if (none && options.has('checkpoint-every')) {
    throw new UsageError(`${command}: --checkpoint-every and --no-checkpoints contradict each other; give one of them.`);
  }
  return none ? 0 : (options.number('checkpoint-every') ?? 1);
}

/** Where a dataset folder was given and what it holds. */
export interface TrainingData {
  readonly folder: string;
  readonly dataset: Dataset;
}

/**
 * Checks that `--data` names a dataset folder written by natinv synthesize: usage errors when it
 * is missing, a file, or has no manifest.json. Returns the resolved folder.
 */
export function checkDataFolder(text: string | undefined, cwd: string, command: string, purpose: string): string {
  if (text === undefined)
    throw new UsageError(`${command}: --data DIR is required (a dataset folder written by natinv synthesize: ${purpose}).`);
  const folder = path.resolve(cwd, text);
  if (!fs.existsSync(folder)) throw new UsageError(`${command}: --data ${folder} does not exist.`);
  if (!fs.statSync(folder).isDirectory()) {
    throw new UsageError(
      `${command}: --data ${text} is a file; give a dataset folder written by natinv synthesize (it holds ${MANIFEST_FILE} and batches/).`,
    );
  }
  if (!fs.existsSync(path.join(folder, MANIFEST_FILE))) {
    throw new UsageError(
      `${command}: --data ${text} is not a natinv dataset folder (no ${MANIFEST_FILE}); give the --out folder of natinv synthesize.`,
    );
  }
  return folder;
}

/** Reads a checked dataset folder whole; a folder that cannot be read or holds no finished batch is a runtime error. */
export async function readTrainingData(folder: string): Promise<TrainingData> {
  const dataset = await readDataset(folder);
  if (dataset.count === 0) throw new Error(`dataset ${folder} holds no finished batch yet; run natinv synthesize on it first.`);
  return { folder, dataset };
}

/** Usage error unless the dataset's images are the size `network` takes. */
export function checkDataShape(data: { readonly dataset: Pick<Dataset, 'shape'> }, network: Teacher, command: string, text: string): void {
  const [, h, w, c] = data.dataset.shape;
  const [th, tw, tc] = network.inputShape;
  if (h !== th || w !== tw || c !== tc) {
    throw new UsageError(
      `${command}: the dataset ${text} holds ${h}x${w}x${c} images but ${network.name} takes ${th}x${tw}x${tc}; ` +
        'give a dataset synthesized from this network (or one of its input size).',
    );
  }
}

/** The teacher a dataset's manifest names, when it names one. */
export function datasetTeacher(dataset: Pick<Dataset, 'manifest'>): string | undefined {
  const teacher = dataset.manifest.configuration.teacher;
  if (typeof teacher === 'string') return teacher;
  const name = (teacher as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

/** A CIFAR test set read for a network. */
export interface TestSet {
  readonly file: string;
  readonly images01: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  /** `cifar10 file test_batch.bin.gz`, for messages. */
  readonly what: string;
}

/** Usage errors for test options given without --test, and for a --test that does not exist or is a folder. */
export function checkTestFile(options: Options, cwd: string, command: string): string | undefined {
  const text = options.string('test');
  if (text === undefined) {
    for (const flag of ['test-layout', 'test-limit']) {
      if (options.has(flag)) throw new UsageError(`${command}: --${flag} applies to a test set; give --test FILE too.`);
    }
    return undefined;
  }
  const file = path.resolve(cwd, text);
  if (!fs.existsSync(file)) throw new UsageError(`${command}: --test ${file} does not exist.`);
  if (fs.statSync(file).isDirectory()) {
    throw new UsageError(`${command}: --test ${text} is a folder; give a CIFAR binary file (.bin or .bin.gz) such as test_batch.bin.gz.`);
  }
  return file;
}

/**
 * Reads the CIFAR test set for `network`: usage errors when the network does not take 32x32x3
 * images or a label is not one of its classes; a file that does not parse is a runtime error.
 */
export async function readTestSet(file: string, options: Options, network: Teacher, command: string): Promise<TestSet> {
  const [h, w, c] = network.inputShape;
  if (h !== 32 || w !== 32 || c !== 3) {
    throw new UsageError(
      `${command}: --test holds 32x32x3 CIFAR images but ${network.name} takes ${h}x${w}x${c}; leave --test out or give a network for CIFAR images.`,
    );
  }
  const layout = (options.string('test-layout') ?? 'cifar10') as 'cifar10' | 'cifar100';
  const set = await readCifarFile(file, { layout, labels: 'fine', limit: options.number('test-limit') });
  const what = `${layout} file ${path.basename(file)}`;
  const maxLabel = set.labels.reduce((a, b) => Math.max(a, b), 0);
  if (maxLabel >= network.numClasses) {
    throw new UsageError(
      `${command}: --test ${path.basename(file)} has label ${maxLabel} but ${network.name} has ${network.numClasses} classes; ` +
        "check --test-layout (cifar100 for CIFAR-100 files) or give the test set of the network's classes.",
    );
  }
  return { file, images01: set.images, labels: set.labels, count: set.count, what };
}

/** Top-1 accuracy of `model` on the test set, in inference mode; leaves no tensors behind. */
export async function testAccuracy(
  model: tfl.LayersModel,
  test: TestSet,
  network: Pick<Teacher, 'inputShape' | 'numClasses'>,
  normalization: InputNormalization,
): Promise<number> {
  const shape = network.inputShape;
  const data = resolveLabelled({ images01: test.images01, labels: test.labels }, shape, network.numClasses, 'test set');
  const predictions = await predictTestSet(model, data, shape, normalization, 250);
  return topOneAccuracy(predictions, test.labels, network.numClasses).accuracy;
}

/** `45.20%`. */
export function percent(accuracy: number | undefined): string {
  return accuracy === undefined ? '-' : `${(100 * accuracy).toFixed(2)}%`;
}

/**
 * Resolves --out: a usage error when it is a file, or already holds a model and --overwrite is
 * not given. With --overwrite, old checkpoints are removed so the folder holds one run.
 */
export function prepareOut(text: string, cwd: string, overwrite: boolean, command: string): string {
  const out = path.resolve(cwd, text);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory())
    throw new UsageError(`${command}: --out ${text} is a file; the model is written to a folder.`);
  if (fs.existsSync(path.join(out, MODEL_JSON)) && !overwrite) {
    throw new UsageError(
      `${command}: --out ${text} already holds a model (${MODEL_JSON}); pass --overwrite to replace it, or choose another --out.`,
    );
  }
  return out;
}

/**
 * Resolves --out for a command that can continue a stopped run: when `resumable` (checkpoints on)
 * and --out holds the state of a run that did not finish, the folder is taken as it is (the state
 * is checked against the run's settings later, by {@link loadResumableRun}); otherwise as
 * {@link prepareOut} does, so a finished run's model is refused without --overwrite.
 */
export function prepareResumableOut(
  text: string,
  cwd: string,
  overwrite: boolean,
  resumable: boolean,
  command: string,
): { out: string; resuming: boolean } {
  const out = path.resolve(cwd, text);
  const resumeFile = path.join(out, CHECKPOINTS_DIR, RESUME_FILE);
  const resuming = resumable && !overwrite && fs.existsSync(resumeFile) && !finishedRun(resumeFile);
  return { out: resuming ? out : prepareOut(text, cwd, overwrite, command), resuming };
}

/** Whether the resumable state in `resumeFile` is that of a run that took all its steps (an unreadable one counts as not). */
function finishedRun(resumeFile: string): boolean {
  try {
    const { progress } = JSON.parse(fs.readFileSync(resumeFile, 'utf8')) as { progress?: { step?: number; totalSteps?: number } };
    return progress?.step != null && progress.totalSteps != null && progress.step >= progress.totalSteps;
  } catch {
    return false;
  }
}

/**
 * The snapshot that continues the run stopped in `out` (the caller disposes its tensors); a usage
 * error when that run had other settings.
 */
export async function loadResumableRun(
  out: string,
  outText: string,
  configuration: Record<string, unknown>,
  command: string,
): Promise<TrainingSnapshot> {
  const loaded = await loadTrainingCheckpoint(path.join(out, CHECKPOINTS_DIR));
  if (loaded === undefined) throw new Error(`${command}: the checkpoint in ${out} disappeared while the run started.`);
  if (JSON.stringify(loaded.configuration) !== JSON.stringify(configuration)) {
    Object.values(loaded.snapshot.tensors).forEach((t) => t.dispose());
    throw new UsageError(
      `${command}: --out ${outText} holds a stopped run of other settings; rerun it with the same options to continue, ` +
        `pass --overwrite to start over, or choose another --out. Saved: ${JSON.stringify(loaded.configuration)}`,
    );
  }
  return loaded.snapshot;
}

/** Deletes the checkpoints an earlier run left in `out` (only with --overwrite, right before training). */
export function clearCheckpoints(out: string): void {
  const dir = path.join(out, CHECKPOINTS_DIR);
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (/^(epoch|resume)-\d+\.safetensors$/.test(name) || name === RESUME_FILE) fs.rmSync(path.join(dir, name));
  }
}

/** Files written by {@link saveTrained}. */
export interface SavedModel {
  readonly modelJson: string;
  readonly weights: string;
  readonly safetensors: string;
  readonly training: string;
}

/** Saves the trained network: a tfjs model folder with natinv metadata, its PyTorch-named weights, and training.json. */
export async function saveTrained(
  model: tfl.LayersModel,
  out: string,
  metadata: TeacherMetadata,
  training: Record<string, unknown>,
): Promise<SavedModel> {
  const files = await saveModelFolder(model, out, metadata);
  const safetensors = path.join(out, PYTORCH_FILE);
  await writeSafetensorsFile(safetensors, exportPytorchWeights(model, { numBatchesTracked: true }), { name: metadata.name });
  const trainingFile = path.join(out, TRAINING_FILE);
  await writeFileAtomic(trainingFile, new TextEncoder().encode(`${JSON.stringify(training, null, 2)}\n`));
  return { ...files, safetensors, training: trainingFile };
}

/** Path of the checkpoint of a 1-based epoch in `out`. */
export function checkpointPath(out: string, epoch: number): string {
  return path.join(out, CHECKPOINTS_DIR, checkpointFileName(epoch));
}

/** An epoch report as plain JSON (for events and training.json). */
export function epochJson(report: EpochReport): Record<string, unknown> {
  return {
    epoch: report.epoch,
    epochs: report.epochs,
    step: report.step,
    steps: report.steps,
    loss: report.loss,
    terms: report.terms,
    learningRate: report.learningRate,
    testAccuracy: report.testAccuracy ?? null,
    seconds: report.seconds,
  };
}

// Plain (non-terminal) step lines at most this often; epochs always get a line.
const PLAIN_INTERVAL_MS = 30_000;
// Terminal line: redrawn at most this often.
const TTY_INTERVAL_MS = 100;

/**
 * Progress of a training run on stderr: one line per epoch (loss and its terms, learning rate,
 * test accuracy, epoch time, ETA); within an epoch, on a terminal, a line rewritten in place with
 * the step, images/s and ETA (elsewhere a plain step line at most every 30 s). With --json,
 * `epoch` events carry the same numbers on stdout.
 */
export class TrainingProgress {
  private readonly plain: boolean;
  private started = 0;
  private lastDraw = 0;
  private drawn = false;
  private stepsDone = 0;

  constructor(
    private readonly reporter: Reporter,
    private readonly now: () => number,
    private readonly batchSize: number,
    private readonly stepsPerEpoch: number,
    private readonly label: string,
  ) {
    this.plain = reporter.json || reporter.stderr.isTTY !== true;
  }

  /** Call right before training starts. */
  begin(): void {
    this.started = this.now();
    this.lastDraw = this.started;
  }

  /** Estimated milliseconds left after `done` of `total` steps. */
  private remainingMs(done: number, total: number): number | undefined {
    if (done === 0) return undefined;
    return ((this.now() - this.started) / done) * (total - done);
  }

  /** One optimizer step. */
  step(report: TrainStepReport): void {
    this.stepsDone = report.step;
    const time = this.now();
    // Off a terminal an epoch's last step is left to the epoch line that follows; on one, the line shows it until then.
    const lastOfEpoch = report.step % this.stepsPerEpoch === 0 || report.step === report.steps;
    const due = this.plain
      ? !lastOfEpoch && time - this.lastDraw >= PLAIN_INTERVAL_MS
      : lastOfEpoch || time - this.lastDraw >= TTY_INTERVAL_MS;
    if (!due) return;
    this.lastDraw = time;
    const remaining = this.remainingMs(report.step, report.steps);
    const seconds = (time - this.started) / 1000;
    const speed = seconds > 0 ? `  ${formatNumber((report.step * this.batchSize) / seconds)} img/s` : '';
    const eta = remaining === undefined ? '' : `  ETA ${formatDuration(remaining)}`;
    const head = `${this.label} epoch ${report.epoch} step ${report.step}/${report.steps}`;
    const line = `${head}  loss ${formatNumber(report.loss)}  ${formatTerms(report.terms)}${speed}${eta}`;
    if (this.plain) {
      this.reporter.stderr.write(`${line}\n`);
      return;
    }
    const width = (this.reporter.stderr.columns ?? 120) - 1;
    this.reporter.stderr.write(`\r\x1b[2K${fitLine(line, `${head}  ${formatTerms(report.terms)}`, `${speed}${eta}`, width)}`);
    this.drawn = true;
  }

  /** One finished epoch: a line on stderr and an `epoch` event. */
  epoch(report: EpochReport): void {
    this.clearLine();
    this.lastDraw = this.now();
    const remaining = this.remainingMs(report.step, report.steps);
    const test = report.testAccuracy === undefined ? '' : `  test ${percent(report.testAccuracy)}`;
    const eta = remaining === undefined || report.step === report.steps ? '' : `  ETA ${formatDuration(remaining)}`;
    const terms = Object.keys(report.terms).length > 1 ? ` (${formatTerms(report.terms)})` : '';
    this.reporter.note(
      `${this.label} epoch ${report.epoch}/${report.epochs}  loss ${formatNumber(report.loss)}${terms}  lr ${formatNumber(report.learningRate)}` +
        `${test}  ${formatDuration(report.seconds * 1000)}${eta}`,
    );
    this.reporter.event('epoch', { ...epochJson(report), etaSeconds: remaining === undefined ? null : Math.round(remaining / 1000) });
  }

  /** Optimizer steps run so far. */
  steps(): number {
    return this.stepsDone;
  }

  /** Ends the in-place line so the next output starts on a fresh line. */
  clearLine(): void {
    if (this.drawn) {
      this.reporter.stderr.write('\n');
      this.drawn = false;
    }
  }
}

/** `1 epoch`, `3 epochs` of `n` images in batches of `b`. */
export function describeTraining(epochs: number, count: number, batchSize: number): string {
  return `${plural(epochs, 'epoch')} over ${plural(count, 'image')} (${plural(Math.ceil(count / batchSize), 'step')} of ${Math.min(batchSize, count)} per epoch)`;
}
