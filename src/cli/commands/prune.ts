/**
 * `natinv prune`: L1-norm filter pruning of a network into a real, smaller tfjs model, optionally
 * fine-tuned on a dataset folder written by natinv synthesize, with parameter counts and test
 * accuracy before and after.
 */
import { checkpointFolder } from '../../apps/checkpoint-folder';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrainingSnapshot } from '../../apps/checkpoint';
import type { TrainingResult } from '../../apps/loop';
import { pruneFilters, PruneFiltersResult } from '../../apps/prune';
import { fineTune } from '../../apps/supervised';
import { CommandSpec, Options, ParsedArgs, suggestion, UsageError } from '../args';
import { teacherMetadata } from '../../models/model-folder';
import { BACKEND_OPTION, chooseBackend } from '../backend';
import { CliIo, EXIT, formatDuration, formatNumber, plural, Reporter } from '../io';
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
  TrainingData,
  trainingOptions,
  trainingSettings,
  TrainingProgress,
  TRAINING_FILE,
} from '../training';

/** fineTune's defaults (the NaturalInversion paper's fine-tuning after pruning), shown in --help. */
const DEFAULTS = { epochs: 20, batchSize: 128, learningRate: 1e-3, weightDecay: 1e-4, schedule: 'constant' };
const TEMPERATURE = 20;
const LABELS = ['targets', 'teacher'] as const;

/** Options that only mean something when fine-tuning (with --data). */
const FINE_TUNING_OPTIONS = [
  'epochs',
  'batch-size',
  'lr',
  'momentum',
  'weight-decay',
  'augment',
  'seed',
  'checkpoint-every',
  'checkpoints',
  'labels',
  'temperature',
];

export const PRUNE: CommandSpec = {
  name: 'prune',
  summary: 'Remove the smallest-L1 filters of a network (a real, smaller model) and fine-tune it on synthesized images.',
  description: [
    'L1-norm filter pruning (Li et al., 2017) at the same --ratio in every prunable conv layer: those whose output ' +
      'reaches exactly one weighted layer (the first conv of each residual block, every conv of a VGG). The kept ' +
      "filters, the next layer's matching input channels and the BatchNorm statistics are copied, so the result is a " +
      'smaller network with the same layer names. MobileNetV2 (depthwise convs) is not supported.',
    'With --data (a dataset folder written by natinv synthesize) the pruned network is fine-tuned, as in the ' +
      "NaturalInversion paper: SGD at a constant learning rate, on the images' target labels or on the original " +
      "network's soft labels (--labels teacher). Without --data it is saved as pruned. Fine-tuning needs the " +
      'tensorflow or cpu backend (wasm cannot train convolutions); pruning alone runs on every backend.',
    `The result goes to --out as a tfjs model folder (model.json + weights.bin) and ${PYTORCH_FILE} (PyTorch names, ` +
      `the pruned shapes); ${TRAINING_FILE} records the settings, parameter counts, accuracies and epochs. With --test, ` +
      'top-1 accuracy is measured before pruning, after pruning and after every fine-tuning epoch.',
    'Ctrl-C stops the fine-tuning after the current step and saves the network as tuned so far (exit code 130); rerunning ' +
      'the same command (after Ctrl-C or a kill) continues after the last finished epoch to the network an uninterrupted run gives.',
  ],
  options: [
    ...teacherOptions().filter((o) => o.name !== 'taps'),
    {
      name: 'ratio',
      kind: 'number',
      value: 'R',
      min: 0,
      help: 'Fraction of the filters removed from every prunable conv layer, in [0, 1): floor(filters x R) go (0.5 halves them).',
      default: '0.5',
    },
    {
      name: 'exclude',
      kind: 'names',
      value: 'a,b',
      help: 'Conv layers to leave whole (natinv inspect lists the layers).',
      default: 'none',
    },
    {
      name: 'data',
      kind: 'string',
      value: 'DIR',
      help: 'Dataset folder written by natinv synthesize to fine-tune on.',
      default: 'none: no fine-tuning',
    },
    ...trainingOptions(DEFAULTS, ' while fine-tuning', "the fine-tuning's shuffling and augmentation draws"),
    {
      name: 'labels',
      kind: 'string',
      value: 'WHICH',
      choices: LABELS,
      help:
        'What the pruned network learns while fine-tuning: targets (cross-entropy toward the class each image was synthesized ' +
        "for) or teacher (knowledge distillation toward the original network's soft labels).",
      default: 'targets',
    },
    { name: 'temperature', kind: 'number', value: 'T', help: 'KD temperature of --labels teacher.', default: String(TEMPERATURE) },
    ...testOptions('before and after pruning and after every fine-tuning epoch'),
    {
      name: 'out',
      kind: 'string',
      value: 'DIR',
      help: 'Folder the pruned network is written to (created if needed).',
      default: 'natinv-pruned',
    },
    { name: 'overwrite', kind: 'flag', help: 'Replace the model an earlier run left in --out (its checkpoints are deleted).' },
    BACKEND_OPTION,
    {
      name: 'json',
      kind: 'flag',
      help: 'Print JSON lines on stdout: a pruned event, one epoch event per fine-tuning epoch and a final summary.',
    },
  ],
  examples: [
    'natinv prune --ratio 0.5 --test test_batch.bin.gz --test-limit 1000',
    'natinv prune --ratio 0.7 --data natinv-out --epochs 20 --labels teacher --out pruned70',
    'natinv prune --arch resnet56 --weights cifar10_resnet56.safetensors --ratio 0.5 --data run',
  ],
};

/** Usage errors for option combinations that cannot work; returns the ratio. */
function checkOptions(options: Options, command: string): number {
  const ratio = options.number('ratio') ?? 0.5;
  if (ratio >= 1) {
    throw new UsageError(
      `${command}: --ratio must be below 1 (the fraction of filters removed from every prunable conv; 0.5 removes half), got ${ratio}.`,
    );
  }
  if (!options.has('data')) {
    const given = FINE_TUNING_OPTIONS.find((name) => options.has(name));
    if (given !== undefined) {
      const flag = given === 'augment' ? '--no-augment' : given === 'checkpoints' ? '--no-checkpoints' : `--${given}`;
      throw new UsageError(
        `${command}: ${flag} applies to fine-tuning; give --data DIR (a dataset folder from natinv synthesize) or leave ${flag} out.`,
      );
    }
  }
  if (options.has('temperature') && options.string('labels') !== 'teacher') {
    throw new UsageError(`${command}: --temperature applies to --labels teacher (fine-tuning on the original network's soft labels).`);
  }
  for (const name of ['lr', 'temperature']) checkPositive(options, name, command);
  return ratio;
}

/** Usage error unless every --exclude names a conv layer of the model. */
function checkExclude(model: tfl.LayersModel, exclude: readonly string[], command: string): void {
  const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
  for (const name of exclude) {
    if (!convs.includes(name)) {
      const what = model.layers.some((l) => l.name === name) ? `"${name}" is not a conv layer` : `the model has no layer "${name}"`;
      throw new UsageError(`${command}: --exclude: ${what}${suggestion(name, convs)}; natinv inspect lists its layers.`);
    }
  }
}

/** Usage error when the fine-tuning targets are not classes of the network. */
function checkTargets(data: TrainingData, classes: number, command: string): void {
  const max = data.dataset.targets.reduce((a, b) => Math.max(a, b), 0);
  if (max >= classes) {
    throw new UsageError(
      `${command}: the dataset ${data.folder} has target class ${max} but the network has ${classes} classes; ` +
        'give a dataset synthesized from this network, or --labels teacher.',
    );
  }
}

/** Runs `natinv prune`; returns the exit code. */
export async function pruneCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  const now = io.now ?? Date.now;
  const command = 'natinv prune';

  // Everything the command line alone can tell, before a backend or a network is loaded.
  const ratio = checkOptions(options, command);
  const dataText = options.string('data');
  const dataFolder = dataText === undefined ? undefined : checkDataFolder(dataText, cwd, command, 'the images to fine-tune on');
  const testFile = checkTestFile(options, cwd, command);
  const every = dataFolder === undefined ? 0 : checkpointEvery(options, command);
  const overwrite = options.flag('overwrite');
  const outText = options.string('out') ?? 'natinv-pruned';
  const { out, resuming } = prepareResumableOut(outText, cwd, overwrite, every > 0, command);
  const labels = (options.string('labels') ?? 'targets') as (typeof LABELS)[number];
  const data = dataFolder === undefined ? undefined : await readTrainingData(dataFolder);

  const backend = await chooseBackend(options.string('backend'), env, reporter, dataFolder === undefined ? 'synthesis' : 'training');
  if (data !== undefined) assertCanTrainStudent(backend.name, command, 'fine-tuning (--data) trains the pruned network');
  const resolved = await resolveTeacher(options, { command, cwd });
  const { teacher } = resolved;
  let pruned: PruneFiltersResult | undefined;
  let resume: TrainingSnapshot | undefined;
  try {
    const exclude = options.names('exclude') ?? [];
    checkExclude(teacher.model, exclude, command);
    if (data !== undefined) {
      checkDataShape(data, teacher, command, dataText as string);
      if (labels === 'targets') checkTargets(data, teacher.numClasses, command);
    }
    const test: TestSet | undefined = testFile === undefined ? undefined : await readTestSet(testFile, options, teacher, command);
    const classNames = classNamesFor(resolved, undefined, command);
    reporter.note(`pruning ${resolved.description} at ratio ${ratio}; backend ${backend.name}; writing to ${out}`);

    const accuracy: { before?: number; pruned?: number; fineTuned?: number } = {};
    if (test !== undefined) accuracy.before = await testAccuracy(teacher.model, test, teacher, teacher.normalization);
    const started = now();
    pruned = pruneFilters(teacher.model, { ratio, exclude, name: `${teacher.model.name}_pruned` });
    const { parameters } = pruned;
    const model = pruned.model;
    if (test !== undefined) accuracy.pruned = await testAccuracy(model, test, teacher, teacher.normalization);
    const saved = 1 - parameters.after / parameters.before;
    reporter.note(
      `pruned ${plural(pruned.layers.length, 'conv layer')}: parameters ${parameters.before.toLocaleString('en-US')} -> ` +
        `${parameters.after.toLocaleString('en-US')} (${(100 * saved).toFixed(1)}% fewer)` +
        (test !== undefined
          ? `; test accuracy ${percent(accuracy.before)} -> ${percent(accuracy.pruned)} (${plural(test.count, 'image')}, ${test.what})`
          : ''),
    );
    const layers = pruned.layers.map((l) => ({ layer: l.layer, filters: l.filters, kept: l.kept.length }));
    reporter.event('pruned', {
      ratio,
      parameters,
      layers,
      accuracyBefore: accuracy.before ?? null,
      accuracyPruned: accuracy.pruned ?? null,
    });

    let result: TrainingResult | undefined;
    const settings = trainingSettings(options);
    const temperature = options.number('temperature') ?? TEMPERATURE;
    const epochs = settings.epochs ?? DEFAULTS.epochs;
    const batchSize = settings.batchSize ?? DEFAULTS.batchSize;
    const fineTuning =
      data === undefined
        ? null
        : {
            data: data.folder,
            images: data.dataset.count,
            labels,
            epochs,
            batchSize,
            learningRate: settings.learningRate ?? DEFAULTS.learningRate,
            momentum: settings.momentum ?? 0.9,
            weightDecay: settings.weightDecay ?? DEFAULTS.weightDecay,
            ...(labels === 'teacher' ? { temperature } : {}),
            augmentation: settings.augmentation !== false,
            seed: settings.seed ?? 0,
          };
    // What a stopped fine-tuning must match to be continued.
    const configuration = { command: 'prune', teacher: teacher.name, ratio, exclude, fineTuning };
    if (data !== undefined) {
      resume = resuming ? await loadResumableRun(out, outText, configuration, command) : undefined;
      if (resume !== undefined) reporter.note(`continuing the fine-tuning in ${out} after epoch ${resume.json.epochsDone}`);
      reporter.note(
        `fine-tuning on ${labels === 'targets' ? "the images' target labels" : `the teacher's soft labels (T ${formatNumber(temperature)})`}: ` +
          `${describeTraining(epochs, data.dataset.count, batchSize)}${settings.augmentation === false ? ', no augmentation' : ''}`,
      );
      if (overwrite) clearCheckpoints(out);
      const progress = new TrainingProgress(reporter, now, batchSize, Math.ceil(data.dataset.count / batchSize), 'fine-tune');
      progress.begin();
      try {
        result = await fineTune({
          ...settings,
          model,
          images: data.dataset,
          labels,
          teacher,
          temperature,
          testSet: test === undefined ? undefined : { images01: test.images01, labels: test.labels },
          ...(every > 0
            ? { checkpoint: checkpointFolder(path.join(out, CHECKPOINTS_DIR), { configuration }), checkpointEvery: every }
            : {}),
          resume,
          signal: io.signal,
          onStep: (report) => progress.step(report),
          onEpoch: (report) => progress.epoch(report),
        });
      } finally {
        progress.clearLine();
      }
      accuracy.fineTuned = result.testAccuracy;
    }
    const seconds = (now() - started) / 1000;
    const metadata = teacherMetadata({ ...teacher, name: `${teacher.name}-pruned-${ratio}` }, { classNames });
    const summary = {
      command: 'prune',
      teacher: teacher.name,
      ratio,
      exclude,
      parameters,
      layers,
      fineTuning:
        fineTuning === null
          ? null
          : {
              ...fineTuning,
              epochsDone: result?.history.length ?? 0,
              steps: result?.steps ?? 0,
              history: result?.history.map(epochJson) ?? [],
            },
      test: test === undefined ? null : { file: test.file, images: test.count },
      accuracy: { before: accuracy.before ?? null, pruned: accuracy.pruned ?? null, fineTuned: accuracy.fineTuned ?? null },
      aborted: result?.aborted ?? false,
      seconds,
    };
    const files = await saveTrained(model, out, metadata, summary);
    reporter.event('done', { ...summary, files });
    const tuned = result === undefined ? 'not fine-tuned' : `fine-tuned for ${plural(result.history.length, 'epoch')}`;
    reporter.result(
      `pruned:   ${files.modelJson} (${parameters.after.toLocaleString('en-US')} of ${parameters.before.toLocaleString('en-US')} parameters, ${tuned}, ${formatDuration(seconds * 1000)})`,
    );
    reporter.result(`pytorch:  ${files.safetensors}`);
    if (test !== undefined) {
      const after = accuracy.fineTuned !== undefined ? `, fine-tuned ${percent(accuracy.fineTuned)}` : '';
      reporter.result(
        `test accuracy: original ${percent(accuracy.before)}, pruned ${percent(accuracy.pruned)}${after} (${plural(test.count, 'image')}, ${test.what})`,
      );
    }
    if (result?.aborted === true) {
      reporter.note(
        `stopped after ${plural(result.steps, 'step')} of fine-tuning (${plural(result.history.length, 'finished epoch')}); the network as tuned so far is saved.`,
      );
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } finally {
    teacher.model.dispose();
    pruned?.model.dispose();
    Object.values(resume?.tensors ?? {}).forEach((t) => t.dispose());
  }
}
