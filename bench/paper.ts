/**
 * The NaturalInversion and DeepInversion papers' CIFAR-10 experiments, end to end, at a chosen
 * scale. Teacher: CIFAR-10 ResNet-20; verifier: ResNet-56. Rows: DI, ADI, NI, NI + ADI, the
 * ablations of NI's Table 3 (generator only, + FTP, + ACS; all = NI), N real training images (the
 * ceiling) and N noise images (the floor). Per row: synthesize N images; the verifier's accuracy
 * on their targets, Fréchet distance and precision/recall of its features against real test
 * images; a ResNet-20 student distilled from scratch on them (top-1 on the lossless first 1,017
 * test images and on the JPEG-derived test set); ResNet-56 pruned by L1 norm at each ratio and
 * fine-tuned on them. Plus DI's continual-learning protocol with its two bounds.
 *
 *   npm run bench:paper -- --scale quick|cpu|paper [--images N] [--steps S] [--batch-size B]
 *     [--kd-epochs E] [--kd-repeats N] [--kd-batch-size B] [--finetune-epochs E] [--finetune-batch-size B]
 *     [--prune-ratios 0.5,0.7,0.9] [--rows di,adi,ni,ni-adi,g,g-ftp,g-acs,real,noise,continual]
 *     [--seed 0] [--test-limit N] [--prune-test-limit N] [--reference N] [--pr-samples N]
 *     [--adi-round-steps N] [--continual-new N] [--continual-images N] [--continual-epochs E]
 *     [--work build-tsc/paper-work] [--out results.json]
 *
 * Prints one JSON object on stdout; progress goes to stderr. Every finished piece of work (each
 * synthesized batch, each row's metrics, distillation and pruning results) is saved in the work
 * folder as it finishes; a rerun with the same settings skips it. The backend is NATINV_BACKEND,
 * tensorflow when unset. NATINV_SHARED_DIR overrides the shared folder (default ../shared).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { continualLearning, cosineRate, distill, extendClassifier, fineTune, pruneFilters, studentTrainer } from '../src/apps';
import { finishedBatches, readDataset, synthesizeToFolder } from '../src/dataset';
import { canonicalJson } from '../src/dataset/configuration';
import { CIFAR10_CLASSES } from '../src/io/cifar';
import { embedFeatures, featureStatistics, Features, FeatureStatistics, synthesizedImages } from '../src/metrics';
import { classProbabilities, topOne } from '../src/metrics/predictions';
import { buildZooModel } from '../src/models/architectures';
import { findPackageRoot } from '../src/models/assets';
import type { Teacher } from '../src/models/teacher';
import { loadTeacher } from '../src/models/zoo-files';
import { backendFromEnv, useBackend } from '../src/runtime/backend';
import { denormalize, SynthesizedBatch } from '../src/synthesis/batch';
import { deepInversion, naturalInversion } from '../src/synthesis/methods';
import { deriveSeed } from '../src/util/random';
import { naturalAblation } from './ablation';
import {
  HostSet,
  judgeImages,
  machine,
  normalizedSlice,
  percent,
  positive,
  readCifar10,
  readJson,
  round,
  sharedDir,
  writeJsonAtomic,
} from './common';

// ---------------------------------------------------------------------------------------------
// Settings

const SYNTHESIZED_ROWS = ['di', 'adi', 'ni', 'ni-adi', 'g', 'g-ftp', 'g-acs'] as const;
const ROWS = [...SYNTHESIZED_ROWS, 'real', 'noise', 'continual'] as const;
type RowKey = (typeof ROWS)[number];
type SynthesizedRow = (typeof SYNTHESIZED_ROWS)[number];

const ROW_NAMES: Record<RowKey, string> = {
  di: 'DeepInversion',
  adi: 'Adaptive DeepInversion',
  ni: 'NaturalInversion (generator + FTP + ACS)',
  'ni-adi': 'NaturalInversion + ADI competition',
  g: 'generator only',
  'g-ftp': 'generator + FTP',
  'g-acs': 'generator + ACS',
  real: 'real training images (ceiling)',
  noise: 'N(0,1) noise images (floor)',
  continual: 'continual learning',
};

interface Settings {
  scale: 'quick' | 'cpu' | 'paper';
  /** Images per row (a multiple of batchSize is used: ceil(images / batchSize) batches). */
  images: number;
  steps: number;
  batchSize: number;
  kdEpochs: number;
  /** Students distilled per row (different initializations and shuffles): the spread of KD accuracy. */
  kdRepeats: number;
  kdBatchSize: number;
  finetuneEpochs: number;
  finetuneBatchSize: number;
  pruneRatios: number[];
  rows: RowKey[];
  seed: number;
  /** JPEG test images for the distilled students and the continual-learning models (of 10,000). */
  testLimit: number;
  /** JPEG test images for the pruned networks. */
  pruneTestLimit: number;
  /** JPEG test images whose verifier features are the FD and precision/recall reference. */
  reference: number;
  /** At most this many images per side in precision/recall (it is quadratic). */
  prSamples: number;
  /** KD steps per ADI round (the student learns between batches); 0 = one epoch over the pool. */
  adiRoundSteps: number;
  /** Real images per new class (5..9) in continual learning. */
  continualNew: number;
  /** Images synthesized from the 5-class model for continual learning. */
  continualImages: number;
  continualEpochs: number;
  work: string;
  out: string | undefined;
}

const PRESETS: Record<Settings['scale'], Omit<Settings, 'scale' | 'rows' | 'seed' | 'work' | 'out'>> = {
  // A smoke run of a few minutes: every code path, meaningless numbers.
  quick: {
    images: 32,
    steps: 5,
    batchSize: 32,
    kdEpochs: 1,
    kdRepeats: 1,
    kdBatchSize: 32,
    finetuneEpochs: 1,
    finetuneBatchSize: 32,
    pruneRatios: [0.5, 0.7, 0.9],
    testLimit: 500,
    pruneTestLimit: 200,
    reference: 500,
    prSamples: 500,
    adiRoundSteps: 0,
    continualNew: 16,
    continualImages: 32,
    continualEpochs: 1,
  },
  // About an hour on two CPU cores with the tensorflow backend (docs/results.md).
  cpu: {
    images: 256,
    steps: 80,
    batchSize: 64,
    kdEpochs: 15,
    kdRepeats: 1,
    kdBatchSize: 64,
    finetuneEpochs: 2,
    finetuneBatchSize: 64,
    pruneRatios: [0.5, 0.7, 0.9],
    testLimit: 10000,
    pruneTestLimit: 2000,
    reference: 2000,
    prSamples: 2000,
    adiRoundSteps: 0,
    continualNew: 200,
    continualImages: 128,
    continualEpochs: 3,
  },
  // The papers' CIFAR-10 settings (DESIGN.md section 3), for a GPU machine.
  paper: {
    images: 256000,
    steps: 2000,
    batchSize: 256,
    kdEpochs: 200,
    kdRepeats: 1,
    kdBatchSize: 128,
    finetuneEpochs: 20,
    finetuneBatchSize: 128,
    pruneRatios: [0.5, 0.7, 0.9],
    testLimit: 10000,
    pruneTestLimit: 10000,
    reference: 10000,
    prSamples: 10000,
    adiRoundSteps: 50,
    continualNew: 5000,
    continualImages: 25600,
    continualEpochs: 30,
  },
};

const USAGE =
  'usage: --scale quick|cpu|paper [--images N] [--steps S] [--batch-size B] [--kd-epochs E] [--kd-repeats N] [--kd-batch-size B] ' +
  '[--finetune-epochs E] [--finetune-batch-size B] [--prune-ratios 0.5,0.7,0.9] [--rows ' +
  ROWS.join(',') +
  '] [--seed 0] ' +
  '[--test-limit N] [--prune-test-limit N] [--reference N] [--pr-samples N] [--adi-round-steps N] [--continual-new N] ' +
  '[--continual-images N] [--continual-epochs E] [--work DIR] [--out FILE]';

function parseArgs(argv: string[], root: string): Settings {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--help' || argv[i] === '-h') {
      process.stderr.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value; ${USAGE}`);
    pairs.push([argv[i], argv[i + 1]]);
  }
  const scaleFlag = pairs.find(([flag]) => flag === '--scale')?.[1] ?? 'cpu';
  if (!(scaleFlag in PRESETS)) throw new Error(`--scale must be quick, cpu or paper, got ${scaleFlag}.`);
  const scale = scaleFlag as Settings['scale'];
  const s: Settings = {
    scale,
    ...PRESETS[scale],
    rows: [...ROWS],
    seed: 0,
    work: path.join(root, 'build-tsc', 'paper-work', scale),
    out: undefined,
  };
  const numbers: Record<string, keyof Settings> = {
    '--images': 'images',
    '--steps': 'steps',
    '--batch-size': 'batchSize',
    '--kd-epochs': 'kdEpochs',
    '--kd-repeats': 'kdRepeats',
    '--kd-batch-size': 'kdBatchSize',
    '--finetune-epochs': 'finetuneEpochs',
    '--finetune-batch-size': 'finetuneBatchSize',
    '--test-limit': 'testLimit',
    '--prune-test-limit': 'pruneTestLimit',
    '--reference': 'reference',
    '--pr-samples': 'prSamples',
    '--continual-new': 'continualNew',
    '--continual-images': 'continualImages',
    '--continual-epochs': 'continualEpochs',
  };
  for (const [flag, value] of pairs) {
    if (flag === '--scale') continue;
    if (flag in numbers) (s as unknown as Record<string, number>)[numbers[flag]] = positive(flag, value);
    else if (flag === '--seed' || flag === '--adi-round-steps') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${value}.`);
      if (flag === '--seed') s.seed = n;
      else s.adiRoundSteps = n;
    } else if (flag === '--prune-ratios') {
      s.pruneRatios = value.split(',').map(Number);
      if (s.pruneRatios.some((r) => !(r > 0 && r < 1))) throw new Error(`--prune-ratios: numbers in (0, 1), got ${value}.`);
    } else if (flag === '--rows') {
      const list = value.split(',');
      const unknown = list.filter((r) => !(ROWS as readonly string[]).includes(r));
      if (unknown.length > 0) throw new Error(`--rows: unknown ${unknown.join(', ')}; use ${ROWS.join(', ')}.`);
      s.rows = list as RowKey[];
    } else if (flag === '--work') s.work = path.resolve(value);
    else if (flag === '--out') s.out = path.resolve(value);
    else throw new Error(`unknown argument ${flag}; ${USAGE}`);
  }
  if (s.testLimit > 10000 || s.pruneTestLimit > 10000 || s.reference > 10000)
    throw new Error('the JPEG test set has 10,000 images; --test-limit, --prune-test-limit and --reference must not exceed it.');
  return s;
}

// ---------------------------------------------------------------------------------------------
// Context: networks, test sets, reference features

interface TestSets {
  /** The lossless first 1,017 test images. */
  lossless: { images: tf.Tensor4D; labels: Int32Array };
  /** The first testLimit JPEG-derived test images. */
  jpeg: { images: tf.Tensor4D; labels: Int32Array };
}

interface Context {
  settings: Settings;
  shared: string;
  teacher: Teacher;
  teacher56: Teacher;
  verifier: Teacher;
  tests: TestSets;
  /** The pruned networks are judged on the lossless set and the first pruneTestLimit JPEG images. */
  pruneTests: TestSets;
  reference: FeatureStatistics;
  realFeatures: Features;
  log: (line: string) => void;
}

/** The first `count` real training images (data_batch_1.. of the JPEG-derived set) passing `keep`. */
async function realTraining(shared: string, count: number, keep: (label: number) => boolean = () => true): Promise<HostSet> {
  const images = new Float32Array(count * 3072);
  const labels = new Int32Array(count);
  let have = 0;
  for (let file = 1; file <= 5 && have < count; file++) {
    const set = await readCifar10(path.join(shared, 'data', 'cifar10-jpeg', `data_batch_${file}.bin.gz`));
    for (let i = 0; i < set.count && have < count; i++) {
      if (!keep(set.labels[i])) continue;
      images.set(set.images01.subarray(i * 3072, (i + 1) * 3072), have * 3072);
      labels[have++] = set.labels[i];
    }
  }
  if (have < count) throw new Error(`only ${have} training images match; asked for ${count}.`);
  return { images01: images, labels, count };
}

/** Top-1 of a classifier (inference mode) on both test sets, with old/new-class splits when `oldClasses` is given. */
async function testAccuracy(model: tfl.LayersModel | Teacher, tests: TestSets, oldClasses?: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, set] of Object.entries(tests) as Array<[string, TestSets['lossless']]>) {
    const predicted = topOne(await classProbabilities(model, set.images, { batchSize: 256 }));
    let right = 0;
    const split = { old: [0, 0], new: [0, 0] };
    predicted.forEach((p, i) => {
      const ok = p === set.labels[i] ? 1 : 0;
      right += ok;
      const part = oldClasses !== undefined && set.labels[i] < oldClasses ? split.old : split.new;
      part[0] += ok;
      part[1] += 1;
    });
    out[name] = percent(right / predicted.length);
    if (oldClasses !== undefined) {
      out[`${name}OldClasses`] = percent(split.old[0] / split.old[1]);
      out[`${name}NewClasses`] = percent(split.new[0] / split.new[1]);
    }
  }
  return out;
}

/** A copy of the teacher restricted to `classes` of its outputs (its head's first rows). */
function restrictClasses(teacher: Teacher, classes: number): Teacher {
  const model = buildZooModel('resnet20', { numClasses: classes });
  for (const layer of model.layers) {
    const weights = teacher.model.getLayer(layer.name).getWeights();
    if (weights.length === 0) continue;
    if (layer.name === 'linear') {
      const [kernel, bias] = weights;
      const sliced = [tf.slice(kernel, [0, 0], [-1, classes]), tf.slice(bias, [0], [classes])];
      layer.setWeights(sliced);
      sliced.forEach((t) => t.dispose());
    } else layer.setWeights(weights);
  }
  model.trainable = false;
  return { ...teacher, name: `${teacher.name}-classes0-${classes - 1}`, model, numClasses: classes };
}

// ---------------------------------------------------------------------------------------------
// Rows: images

/** The configuration a row's synthesized batches depend on (the dataset folder checks it). */
function synthesisConfiguration(row: SynthesizedRow, s: Settings, batches: number): Record<string, unknown> {
  const adi = row === 'adi' || row === 'ni-adi';
  return {
    row,
    teacher: 'cifar10_resnet20',
    steps: s.steps,
    batchSize: s.batchSize,
    seed: s.seed,
    // ADI's batches depend on the student, which learns from every earlier batch.
    ...(adi ? { batches, adiRoundSteps: s.adiRoundSteps, student: 'resnet20', kdBatchSize: s.kdBatchSize } : {}),
  };
}

function trainerFor(
  row: SynthesizedRow,
  ctx: Context,
  batchIndices: number[],
  signal: AbortSignal | undefined,
  onStep: (step: number, batch: number) => void,
) {
  const { settings: s, teacher } = ctx;
  const common = {
    batchIndices,
    batchSize: s.batchSize,
    steps: s.steps,
    seed: s.seed,
    signal,
    onStep: (r: { step: number; batch: number }) => onStep(r.step, r.batch),
  };
  const competition = (): NonNullable<Parameters<typeof deepInversion>[1]>['competition'] => {
    const student = buildZooModel('resnet20', { seed: deriveSeed(s.seed, 'adi-student') });
    return {
      student,
      trainStudent: studentTrainer({
        teacher,
        student,
        batchSize: s.kdBatchSize,
        seed: deriveSeed(s.seed, 'adi-rounds'),
        ...(s.adiRoundSteps > 0 ? { steps: s.adiRoundSteps } : { epochs: 1 }),
      }),
    };
  };
  switch (row) {
    case 'di':
      return deepInversion(teacher, common);
    case 'adi':
      return deepInversion(teacher, { ...common, competition: competition() });
    case 'ni':
      return naturalInversion(teacher, common);
    case 'ni-adi':
      return naturalInversion(teacher, { ...common, competition: competition() });
    case 'g':
      return naturalAblation(teacher, { ...common, ftp: false, acs: false });
    case 'g-ftp':
      return naturalAblation(teacher, { ...common, ftp: true, acs: false });
    case 'g-acs':
      return naturalAblation(teacher, { ...common, ftp: false, acs: true });
  }
}

/** Synthesizes (or finds) a row's batches in the work folder; returns them with the synthesis seconds. */
async function synthesizedRow(row: SynthesizedRow, ctx: Context): Promise<{ batches: SynthesizedBatch[]; seconds: number }> {
  const s = ctx.settings;
  const batches = Math.ceil(s.images / s.batchSize);
  const folder = path.join(s.work, 'images', row);
  const configuration = synthesisConfiguration(row, s, batches);
  const timing = path.join(folder, 'timing.json');
  const seconds = (await readJson<Record<string, number>>(timing)) ?? {};
  const adi = row === 'adi' || row === 'ni-adi';
  if (adi && fs.existsSync(folder)) {
    // ADI runs its batches in order with a learning student: a partial run cannot resume, redo it.
    const found = await finishedBatches(folder).catch(() => ({ finished: [] as number[] }));
    const manifest = await readJson<{ configuration?: unknown }>(path.join(folder, 'manifest.json')).catch(() => undefined);
    // The manifest stores the configuration with sorted keys.
    const same = JSON.stringify(canonicalJson(manifest?.configuration)) === JSON.stringify(canonicalJson(configuration));
    if (!same || found.finished.length < batches) {
      if (found.finished.length > 0)
        ctx.log(
          `${row}: ${found.finished.length}/${batches} batches of an unfinished or different ADI run; ADI cannot resume, starting over`,
        );
      await fs.promises.rm(folder, { recursive: true, force: true });
      for (const key of Object.keys(seconds)) delete seconds[key];
    }
  }
  let started = Date.now();
  let lastLog = 0;
  await synthesizeToFolder({
    folder,
    batches,
    configuration,
    batchSize: s.batchSize,
    classNames: CIFAR10_CLASSES,
    png: false,
    overwrite: true,
    trainer: (indices, signal) => {
      if (indices.length > 0)
        ctx.log(`${row}: synthesizing batches ${indices.join(', ')} (${s.steps} steps of ${s.batchSize} images each)`);
      started = Date.now();
      return trainerFor(row, ctx, indices, signal, (step, batch) => {
        if (Date.now() - lastLog > 60000 || step === s.steps) {
          lastLog = Date.now();
          ctx.log(`${row}: batch ${batch} step ${step}/${s.steps}`);
        }
      });
    },
    onBatch: (batch, progress) => {
      seconds[String(batch.index)] = round((Date.now() - started) / 1000, 1);
      started = Date.now();
      fs.writeFileSync(timing, JSON.stringify(seconds));
      ctx.log(
        `${row}: batch ${batch.index} written (${progress.done}/${progress.total}), ${seconds[String(batch.index)]} s, teacher-target agreement ${percent(batch.predictions.filter((p, i) => p === batch.targets[i]).length / batch.predictions.length)} %`,
      );
    },
  });
  const dataset = await readDataset(folder, { requireComplete: true });
  const wanted = dataset.batches.filter((b) => b.index < batches);
  const total = wanted.reduce((n, b) => n + (seconds[String(b.index)] ?? NaN), 0);
  return { batches: wanted, seconds: round(total, 1) };
}

/** Real or noise images as batches (targets: true labels, or the classes in turn). */
function hostBatches(kind: 'real' | 'noise', set: HostSet | undefined, ctx: Context): SynthesizedBatch[] {
  const s = ctx.settings;
  const { normalization } = ctx.teacher;
  const out: SynthesizedBatch[] = [];
  for (let start = 0, index = 0; start < s.images; start += s.batchSize, index++) {
    const count = Math.min(s.batchSize, s.images - start);
    // N(0, 1) in the teacher's normalized space: DeepInversion's starting point.
    const normalized =
      kind === 'real'
        ? normalizedSlice(set as HostSet, normalization, start, count)
        : (tf.randomNormal([count, 32, 32, 3], 0, 1, 'float32', deriveSeed(s.seed, 'noise', index)) as tf.Tensor4D);
    const pixels01 = denormalize(normalized, normalization);
    const images = Float32Array.from(normalized.dataSync());
    const images01 = Float32Array.from(pixels01.dataSync());
    normalized.dispose();
    pixels01.dispose();
    const targets =
      kind === 'real'
        ? Int32Array.from((set as HostSet).labels.subarray(start, start + count))
        : Int32Array.from({ length: count }, (_, i) => (start + i) % 10);
    out.push({
      index,
      method: kind,
      seed: s.seed,
      teacher: ctx.teacher.name,
      shape: [count, 32, 32, 3],
      images,
      normalization,
      images01,
      targets,
      confidence: new Float32Array(count),
      predictions: new Int32Array(count),
      loss: NaN,
      terms: {},
      steps: 0,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows: what is measured

type RowResult = Record<string, unknown>;

/** Runs `work` unless the row file holds its result under the same configuration; saves it. */
async function stage<T>(
  file: string,
  name: string,
  configuration: Record<string, unknown>,
  ctx: Context,
  work: () => Promise<T>,
): Promise<T> {
  const saved = (await readJson<Record<string, { configuration: unknown; result: T }>>(file)) ?? {};
  const entry = saved[name];
  if (entry !== undefined && JSON.stringify(entry.configuration) === JSON.stringify(configuration)) {
    ctx.log(`${path.basename(file, '.json')}: ${name} done before, skipped`);
    return entry.result;
  }
  const started = Date.now();
  const result = await work();
  const withTime = (
    typeof result === 'object' && result !== null && !Array.isArray(result)
      ? { ...result, seconds: round((Date.now() - started) / 1000, 1) }
      : result
  ) as T;
  const fresh = (await readJson<Record<string, unknown>>(file)) ?? {};
  fresh[name] = { configuration, result: withTime };
  await writeJsonAtomic(file, fresh);
  ctx.log(`${path.basename(file, '.json')}: ${name} ${JSON.stringify(withTime)}`);
  return withTime;
}

async function measureRow(row: Exclude<RowKey, 'continual'>, ctx: Context, realSet: () => Promise<HostSet>): Promise<RowResult> {
  const s = ctx.settings;
  const file = path.join(s.work, 'rows', `${row}.json`);
  let synthesisSeconds: number | null = null;
  let batches: SynthesizedBatch[];
  if (row === 'real' || row === 'noise') batches = hostBatches(row, row === 'real' ? await realSet() : undefined, ctx);
  else ({ batches, seconds: synthesisSeconds } = await synthesizedRow(row, ctx));
  const count = batches.reduce((n, b) => n + b.shape[0], 0);
  const base = {
    row,
    images: count,
    imagesConfiguration: row === 'real' || row === 'noise' ? { seed: s.seed } : synthesisConfiguration(row, s, batches.length),
  };

  const metrics = await stage(file, 'metrics', { ...base, reference: s.reference, prSamples: s.prSamples }, ctx, async () => {
    const unclipped = synthesizedImages(batches, ctx.verifier.normalization);
    const judged = await judgeImages(ctx.teacher, ctx.verifier, unclipped.images, unclipped.labels, ctx.reference, {
      realFeatures: ctx.realFeatures,
      precisionRecallSamples: s.prSamples,
    });
    unclipped.images.dispose();
    const clipped = synthesizedImages(batches, ctx.verifier.normalization, { clipped: true });
    const judgedClipped = await judgeImages(ctx.teacher, ctx.verifier, clipped.images, clipped.labels, ctx.reference, {
      realFeatures: ctx.realFeatures,
      precisionRecallSamples: s.prSamples,
    });
    clipped.images.dispose();
    return { ...judged, clipped: judgedClipped };
  });

  // Repeat 0 is the row's KD result; further repeats (--kd-repeats) only measure its spread.
  const distillOnce = (repeat: number) =>
    stage(
      file,
      repeat === 0 ? 'kd' : `kd-repeat-${repeat}`,
      { ...base, epochs: s.kdEpochs, batchSize: s.kdBatchSize, testLimit: s.testLimit },
      ctx,
      async () => {
        const student = buildZooModel('resnet20', {
          seed: repeat === 0 ? deriveSeed(s.seed, 'kd-student') : deriveSeed(s.seed, 'kd-student', repeat),
        });
        const result = await distill({
          teacher: ctx.teacher,
          student,
          images: batches,
          epochs: s.kdEpochs,
          batchSize: s.kdBatchSize,
          seed: repeat === 0 ? deriveSeed(s.seed, 'kd') : deriveSeed(s.seed, 'kd', repeat),
          onEpoch: (r) =>
            ctx.log(
              `${row}: KD${repeat === 0 ? '' : ` repeat ${repeat}`} epoch ${r.epoch}/${r.epochs} loss ${r.loss.toFixed(3)} (${r.seconds.toFixed(0)} s)`,
            ),
        });
        const accuracy = await testAccuracy(student, ctx.tests);
        student.dispose();
        return { ...accuracy, steps: result.steps, finalLoss: round(result.history[result.history.length - 1].loss) };
      },
    );
  const kd = await distillOnce(0);

  const pruning: Record<string, unknown> = {};
  for (const ratio of s.pruneRatios) {
    pruning[String(ratio)] = await stage(
      file,
      `prune-${ratio}`,
      { ...base, ratio, epochs: s.finetuneEpochs, batchSize: s.finetuneBatchSize, pruneTestLimit: s.pruneTestLimit },
      ctx,
      async () => {
        const { model } = pruneFilters(ctx.teacher56.model, { ratio });
        await fineTune({
          model,
          images: batches,
          teacher: ctx.teacher56,
          epochs: s.finetuneEpochs,
          batchSize: s.finetuneBatchSize,
          seed: deriveSeed(s.seed, 'finetune', ratio),
        });
        const accuracy = await testAccuracy(model, ctx.pruneTests);
        model.dispose();
        return accuracy;
      },
    );
  }
  const repeats = [kd];
  for (let repeat = 1; repeat < s.kdRepeats; repeat++) repeats.push(await distillOnce(repeat));
  const spread = (key: 'lossless' | 'jpeg') => {
    const values = repeats.map((r) => (r as Record<string, number>)[key]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = values.length < 2 ? 0 : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    return { values, mean: round(mean, 2), sd: round(sd, 2) };
  };
  const kdRepeats = s.kdRepeats > 1 ? { lossless: spread('lossless'), jpeg: spread('jpeg') } : undefined;
  return { row, name: ROW_NAMES[row], images: count, synthesisSeconds, ...metrics, kd, kdRepeats, pruning };
}

// ---------------------------------------------------------------------------------------------
// Continual learning (DeepInversion sec. 4.4): classes 0-4 old, 5-9 new

async function continualRow(ctx: Context): Promise<RowResult> {
  const s = ctx.settings;
  const file = path.join(s.work, 'rows', 'continual.json');
  const oldClasses = 5;
  const old = restrictClasses(ctx.teacher, oldClasses);
  const base = { oldClasses, newPerClass: s.continualNew, epochs: s.continualEpochs, testLimit: s.testLimit, seed: s.seed };
  try {
    const before = await stage(file, 'old-model', base, ctx, async () => testAccuracy(old.model, ctx.tests, oldClasses));
    const teacher = await stage(file, 'teacher', base, ctx, async () => testAccuracy(ctx.teacher, ctx.tests, oldClasses));
    let fresh: HostSet | undefined;
    const newData = async () => (fresh ??= await realTraining(ctx.shared, s.continualNew * 5, (label) => label >= oldClasses));
    const training = { epochs: s.continualEpochs, batchSize: 128, learningRate: 0.01, weightDecay: 1e-4, schedule: cosineRate(0.01) };

    const forgetting = await stage(file, 'new-data-only', base, ctx, async () => {
      const data = await newData();
      const student = extendClassifier(old.model, { numClasses: 10, seed: deriveSeed(s.seed, 'continual-head') });
      await fineTune({
        model: student,
        images: { images01: data.images01, count: data.count, shape: [data.count, 32, 32, 3], targets: data.labels },
        normalization: old.normalization,
        ...training,
        seed: deriveSeed(s.seed, 'continual'),
        onEpoch: (r) => ctx.log(`continual (new data only): epoch ${r.epoch}/${r.epochs} loss ${r.loss.toFixed(3)}`),
      });
      const accuracy = await testAccuracy(student, ctx.tests, oldClasses);
      student.dispose();
      return accuracy;
    });

    // Old-class images synthesized from the 5-class model by DeepInversion, resumable.
    const folder = path.join(s.work, 'images', 'continual-di');
    const batches = Math.ceil(s.continualImages / s.batchSize);
    const configuration = { row: 'continual-di', teacher: old.name, steps: s.steps, batchSize: s.batchSize, seed: s.seed };
    await synthesizeToFolder({
      folder,
      batches,
      configuration,
      batchSize: s.batchSize,
      classNames: CIFAR10_CLASSES.slice(0, oldClasses),
      png: false,
      overwrite: true,
      trainer: (indices, signal) => {
        ctx.log(`continual: DeepInversion of the 5-class model, batches ${indices.join(', ')}`);
        return deepInversion(old, { batchIndices: indices, batchSize: s.batchSize, steps: s.steps, seed: s.seed, signal });
      },
      onBatch: (batch, progress) => ctx.log(`continual: batch ${batch.index} written (${progress.done}/${progress.total})`),
    });
    const synthesized = (await readDataset(folder, { requireComplete: true })).batches.filter((b) => b.index < batches);

    const learned = await stage(file, 'continual', { ...base, synthesized: configuration, images: s.continualImages }, ctx, async () => {
      const data = await newData();
      const student = extendClassifier(old.model, { numClasses: 10, seed: deriveSeed(s.seed, 'continual-head') });
      await continualLearning({
        oldModel: old,
        oldClasses,
        newData: { images01: data.images01, labels: data.labels },
        synthesized,
        student,
        ...training,
        seed: deriveSeed(s.seed, 'continual'),
        onEpoch: (r) => ctx.log(`continual: epoch ${r.epoch}/${r.epochs} loss ${r.loss.toFixed(3)} ${JSON.stringify(r.terms)}`),
      });
      const accuracy = await testAccuracy(student, ctx.tests, oldClasses);
      student.dispose();
      return accuracy;
    });
    return {
      row: 'continual',
      protocol:
        'old task: the CIFAR-10 ResNet-20 restricted to classes 0-4 (its first five logits); new task: classes 5-9 from ' +
        `${s.continualNew} real training images each; old-class data: ${s.continualImages} DeepInversion images of the 5-class model`,
      oldModel: before,
      newDataOnly: forgetting,
      continualLearning: learned,
      teacher10Classes: teacher,
    };
  } finally {
    old.model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const root = await findPackageRoot();
  const settings = parseArgs(process.argv.slice(2), root);
  const started = Date.now();
  const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
  const backend = await useBackend(process.env.NATINV_BACKEND === undefined ? 'tensorflow' : backendFromEnv());
  const atStart = machine(backend);
  const shared = sharedDir(root);
  const models = path.join(shared, 'models');
  const teacher = await loadTeacher({ arch: 'resnet20', weights: path.join(models, 'cifar10_resnet20.safetensors') });
  const teacher56 = await loadTeacher({ arch: 'resnet56', weights: path.join(models, 'cifar10_resnet56.safetensors') });
  // The verifier is the same ResNet-56 network as the pruned one (as in bench/outcome.ts).
  const verifier = teacher56;
  if (JSON.stringify(verifier.normalization) !== JSON.stringify(teacher.normalization))
    throw new Error('the verifier and the teacher use different normalizations.');
  await fs.promises.mkdir(settings.work, { recursive: true });
  log(`scale ${settings.scale}, work folder ${settings.work}, backend ${backend}, rows ${settings.rows.join(', ')}`);

  const lossless = await readCifar10(path.join(shared, 'data', 'cifar10', 'test_batch_first1017.bin.gz'));
  const jpeg = await readCifar10(
    path.join(shared, 'data', 'cifar10-jpeg', 'test_batch.bin.gz'),
    Math.max(settings.testLimit, settings.pruneTestLimit, settings.reference),
  );
  const tests: TestSets = {
    lossless: { images: normalizedSlice(lossless, teacher.normalization), labels: lossless.labels },
    jpeg: {
      images: normalizedSlice(jpeg, teacher.normalization, 0, settings.testLimit),
      labels: jpeg.labels.subarray(0, settings.testLimit),
    },
  };
  const pruneLimit = settings.pruneTestLimit;
  const pruneTests: TestSets = {
    lossless: tests.lossless,
    jpeg: { images: normalizedSlice(jpeg, teacher.normalization, 0, pruneLimit), labels: jpeg.labels.subarray(0, pruneLimit) },
  };
  const referenceImages = normalizedSlice(jpeg, verifier.normalization, 0, settings.reference);
  const realFeatures = await embedFeatures(verifier, referenceImages, { layer: verifier.featureTaps[0] });
  referenceImages.dispose();
  const reference = featureStatistics(realFeatures);
  const ctx: Context = { settings, shared, teacher, teacher56, verifier, tests, pruneTests, reference, realFeatures, log };

  const referencesFile = path.join(settings.work, 'rows', 'references.json');
  const refConfig = { testLimit: settings.testLimit, pruneTestLimit: settings.pruneTestLimit };
  const references: Record<string, unknown> = {
    teacherResNet20: await stage(referencesFile, 'teacher-resnet20', refConfig, ctx, () => testAccuracy(teacher, tests)),
    resnet56: await stage(referencesFile, 'resnet56', refConfig, ctx, () => testAccuracy(teacher56, ctx.pruneTests)),
  };
  for (const ratio of settings.pruneRatios) {
    references[`resnet56Pruned${ratio}NoFinetune`] = await stage(referencesFile, `pruned-${ratio}`, refConfig, ctx, async () => {
      const { model, parameters } = pruneFilters(teacher56.model, { ratio });
      const accuracy = await testAccuracy(model, ctx.pruneTests);
      model.dispose();
      return { ...accuracy, parametersBefore: parameters.before, parametersAfter: parameters.after };
    });
  }

  let real: HostSet | undefined;
  const realSet = async (): Promise<HostSet> => (real ??= await realTraining(shared, settings.images));
  const rows: RowResult[] = [];
  let continual: RowResult | undefined;
  for (const row of settings.rows) {
    const rowStarted = Date.now();
    if (row === 'continual') continual = await continualRow(ctx);
    else rows.push(await measureRow(row, ctx, realSet));
    log(`${row} finished in ${((Date.now() - rowStarted) / 1000).toFixed(0)} s`);
  }

  const result = {
    configuration: {
      ...atStart,
      loadAverageAtEnd: machine(backend).loadAverage,
      scale: settings.scale,
      settings: {
        ...settings,
        work: path.relative(root, settings.work),
        out: settings.out === undefined ? undefined : path.relative(root, settings.out),
      },
      teacher: 'cifar10_resnet20 (ImageNet normalization)',
      verifier: `cifar10_resnet56, features: global average pool of ${verifier.featureTaps[0]} (64 values)`,
      pruned:
        "cifar10_resnet56, L1-norm filter pruning of every BasicBlock first conv, fine-tuned with cross-entropy toward the images' targets (SGD lr 1e-3 constant)",
      student: 'ResNet-20 from scratch, KD T 20, SGD lr 0.1 cosine, weight decay 1e-4, crop + flip',
      fdReference: `first ${settings.reference} images of cifar10-jpeg/test_batch.bin.gz (verifier features)`,
      testSets: {
        lossless: `cifar10/test_batch_first1017.bin.gz (${lossless.count})`,
        jpeg: `first ${settings.testLimit} of cifar10-jpeg/test_batch.bin.gz`,
      },
      judgedImages:
        "the unclipped images the teacher saw (papers' convention); `clipped` repeats the metrics on the [0, 1] pixels the applications train on",
      wallSeconds: round((Date.now() - started) / 1000, 1),
    },
    references,
    rows,
    continual,
  };
  tests.lossless.images.dispose();
  tests.jpeg.images.dispose();
  pruneTests.jpeg.images.dispose();
  teacher.model.dispose();
  teacher56.model.dispose();
  const text = JSON.stringify(result, null, 2);
  if (settings.out !== undefined) await writeJsonAtomic(settings.out, result);
  await writeJsonAtomic(path.join(settings.work, 'result.json'), result);
  console.log(text);
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 1;
});
