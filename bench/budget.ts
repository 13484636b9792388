/**
 * Quality per compute: each method makes as many images as it can within a budget of minutes,
 * then an independent ResNet-56 verifier judges every set side by side. Teacher: the bundled
 * CIFAR-10 ResNet-20. Two modes:
 *
 * Row: one (method, steps, budget, clock) run, synthesizing into its own resumable work folder
 * (a natinv dataset folder plus row.json with the clock reading at every finished batch). Kill it
 * and rerun the same command: it continues from the last finished batch with the clock it had
 * used (the unfinished batch's time is lost, not charged). The budget counts synthesis only
 * (teacher loading and judging are outside it); the batch running when it runs out is dropped.
 *
 *   NATINV_BACKEND=tensorflow npm run bench:budget -- --method fast --budget 15 --clock cpu
 *   NATINV_BACKEND=tensorflow npm run bench:budget -- --method ni --steps 200 --budget 15 --clock cpu
 *     [--steps N (DI/NI steps per batch; fast: inner steps, default 5)] [--batch-size 64] [--seed 0]
 *     [--pyramid (fast NI)] [--work build-tsc/bench-budget]
 *
 * `--clock wall` (default) counts elapsed time; `--clock cpu` counts this process's CPU time
 * (process.cpuUsage: user + system over all its threads, TensorFlow's included), which a shared,
 * loaded machine disturbs much less. With both cores busy, a CPU minute is about half a wall minute.
 *
 * Compare: judges every row under the work folder and prints one JSON object (also written to
 * <work>/budget.json) and a chart of quality against the clock (--chart, default
 * docs/images/results-fast-quality-vs-time.png):
 *
 *   NATINV_BACKEND=tensorflow npm run bench:budget -- --compare [--work build-tsc/bench-budget] [--chart FILE]
 *
 * Per row: images, images per minute of the clock, teacher forward+backward passes per image
 * (the steps per batch: one pass of the batch per step; every method adds one forward pass per
 * image to judge the kept batch, fast one more for its statistics history and NI/fast NI one
 * per step for the pyramid's feature taps), the teacher's and the verifier's top-1 on the
 * targets, the Fréchet distance of the verifier's pooled 'layer3.8' features against the first
 * 2,000 JPEG-derived CIFAR-10 test images on all the images and on a seeded random subset of
 * equal size in every row (the smallest row's count, at least 64), and improved precision/recall
 * (k = 3) on that subset against as many real images, and the mean FD of five random 64-image
 * subsets (fd64: bench/outcome's protocol judges 64 images, and FD falls with the count). Each
 * row is also judged at checkpoints of its clock (1, 2, 3, 5, 10, 15 minutes) and, for the chart,
 * at every finished batch.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { readDataset } from '../src/dataset/reader';
import { synthesizeToFolder } from '../src/dataset/run';
import { stateTrainer } from '../src/dataset/state-trainer';
import {
  embedFeatures,
  featureStatistics,
  frechetDistanceTerms,
  precisionRecall,
  synthesizedImages,
  verifierAccuracy,
} from '../src/metrics';
import type { Features } from '../src/metrics';
import { findPackageRoot } from '../src/models/assets';
import type { Teacher } from '../src/models/teacher';
import { loadBundledTeacher, loadTeacher } from '../src/models/zoo-files';
import { useBackend } from '../src/runtime/backend';
import type { SynthesizedBatch } from '../src/synthesis/batch';
import { fastSynthesizer, resolveFastSettings } from '../src/synthesis/fast';
import { deepInversion, naturalInversion } from '../src/synthesis/methods';
import { Random } from '../src/util/random';
import { CHART_PALETTE, panelsChartPng } from '../src/io/chart';
import { nodeZlib } from '../src/io/node-zlib';
import { machine, normalizedSlice, percent, positive, readCifar10, readJson, round, sharedDir, writeJsonAtomic } from './common';

const METHODS = { di: 'deepInversion', ni: 'naturalInversion', fast: 'fastInversion' } as const;
type MethodKey = keyof typeof METHODS;
type Clock = 'wall' | 'cpu';

interface Args {
  method?: MethodKey;
  steps?: number;
  budget: number;
  clock: Clock;
  batchSize: number;
  seed: number;
  pyramid: boolean;
  work: string;
  compare: boolean;
  chart: string;
  real: number;
}

/** What a row folder records as it runs. */
interface RowRecord {
  method: MethodKey;
  label: string;
  steps: number;
  pyramid: boolean;
  batchSize: number;
  seed: number;
  budgetMinutes: number;
  clock: Clock;
  /** Clock seconds used when each batch was committed, by batch index. */
  finishedAt: Record<string, number>;
  usedSeconds: number;
  done: boolean;
  /** Wall seconds of the sittings and the load average seen at each batch. */
  sittings: Array<{ started: string; machine: Record<string, unknown> }>;
  loadAverages: number[][];
  settings?: unknown;
}

const USAGE =
  'usage: --method fast|ni|di [--steps N] [--budget MIN] [--clock wall|cpu] [--batch-size 64] [--seed 0] [--pyramid] [--work DIR]\n' +
  '       --compare [--work DIR] [--chart FILE] [--real 2000]';

function parseArgs(argv: string[]): Args {
  const args: Args = {
    budget: 15,
    clock: 'wall',
    batchSize: 64,
    seed: 0,
    pyramid: false,
    work: 'build-tsc/bench-budget',
    compare: false,
    chart: 'docs/images/results-fast-quality-vs-time.png',
    real: 2000,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--compare' || flag === '--pyramid') {
      args[flag === '--compare' ? 'compare' : 'pyramid'] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value.\n${USAGE}`);
    if (flag === '--method') {
      if (!(value in METHODS)) throw new Error(`--method: unknown ${value}; use fast, ni or di.`);
      args.method = value as MethodKey;
    } else if (flag === '--steps') args.steps = positive(flag, value);
    else if (flag === '--budget') {
      args.budget = Number(value);
      if (!(args.budget > 0)) throw new Error(`--budget must be a positive number of minutes, got ${value}.`);
    } else if (flag === '--clock') {
      if (value !== 'wall' && value !== 'cpu') throw new Error(`--clock: use wall or cpu, got ${value}.`);
      args.clock = value;
    } else if (flag === '--batch-size') args.batchSize = positive(flag, value);
    else if (flag === '--seed') args.seed = Number(value);
    else if (flag === '--work') args.work = value;
    else if (flag === '--chart') args.chart = value;
    else if (flag === '--real') args.real = positive(flag, value);
    else throw new Error(`unknown argument ${flag}\n${USAGE}`);
  }
  if (!args.compare && args.method === undefined) throw new Error(`pass --method or --compare.\n${USAGE}`);
  return args;
}

/** Seconds on the chosen clock since the process started. */
function clockSeconds(clock: Clock): number {
  if (clock === 'wall') return performance.now() / 1000;
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function rowLabel(method: MethodKey, steps: number, pyramid: boolean): string {
  if (method === 'fast') return `fast${pyramid ? '+pyramid' : ''} (${steps} inner steps)`;
  return `${method.toUpperCase()}-${steps}`;
}

async function runRow(args: Args, root: string): Promise<void> {
  const method = args.method as MethodKey;
  const steps = args.steps ?? (method === 'fast' ? 5 : 200);
  const name = `${method}${args.pyramid ? '-pyramid' : ''}-s${steps}-${args.budget}min-${args.clock}`;
  const folder = path.resolve(root, args.work, name);
  const recordFile = path.join(folder, 'row.json');
  const backend = await useBackend();
  const teacher = await loadBundledTeacher('cifar10-resnet20');
  const record: RowRecord = (await readJson<RowRecord>(recordFile)) ?? {
    method,
    label: rowLabel(method, steps, args.pyramid),
    steps,
    pyramid: args.pyramid,
    batchSize: args.batchSize,
    seed: args.seed,
    budgetMinutes: args.budget,
    clock: args.clock,
    finishedAt: {},
    usedSeconds: 0,
    done: false,
    sittings: [],
    loadAverages: [],
  };
  const log = (line: string): void => void process.stderr.write(`[${name} ${record.usedSeconds.toFixed(0)}s] ${line}\n`);
  if (record.done) {
    log('already finished; nothing to do (delete the folder to redo it).');
    return;
  }
  record.sittings.push({ started: new Date().toISOString(), machine: machine(backend) });
  const fastOptions = { batchSize: args.batchSize, innerSteps: steps, seed: args.seed, pyramid: args.pyramid };
  if (method === 'fast') record.settings = resolveFastSettings(teacher, fastOptions);
  await writeJsonAtomic(recordFile, record);

  const budgetSeconds = args.budget * 60;
  const usedBefore = record.usedSeconds;
  const start = clockSeconds(args.clock);
  const used = (): number => usedBefore + clockSeconds(args.clock) - start;
  const controller = new AbortController();
  let outOfBudget = false;
  const onStep = (report: { step: number; steps: number; batch: number }): void => {
    if (used() >= budgetSeconds) {
      outOfBudget = true;
      controller.abort();
    }
    if (report.step === report.steps) log(`batch ${report.batch} synthesized`);
  };
  const dataFolder = path.join(folder, 'data');
  const synthesizer = method === 'fast' ? fastSynthesizer(teacher, fastOptions) : undefined;
  try {
    const trainer =
      synthesizer !== undefined
        ? stateTrainer(synthesizer, { folder: dataFolder, onStep })
        : (indices: number[], signal?: AbortSignal) =>
            (method === 'ni' ? naturalInversion : deepInversion)(teacher, {
              batchIndices: indices,
              batchSize: args.batchSize,
              steps,
              seed: args.seed,
              signal,
              onStep,
            });
    await synthesizeToFolder({
      folder: dataFolder,
      batches: 1_000_000,
      configuration: { bench: 'budget', method: METHODS[method], steps, batchSize: args.batchSize, seed: args.seed, pyramid: args.pyramid },
      png: false,
      grid: false,
      signal: controller.signal,
      trainer,
      onBatch: (batch) => {
        record.finishedAt[String(batch.index)] = used();
        record.usedSeconds = used();
        record.loadAverages.push(os.loadavg().map((x) => round(x, 2)));
        // Synchronously, so the record never lags behind the committed batches.
        fs.writeFileSync(`${recordFile}.tmp`, JSON.stringify(record, null, 2));
        fs.renameSync(`${recordFile}.tmp`, recordFile);
        log(`batch ${batch.index} committed (${Object.keys(record.finishedAt).length} batches)`);
      },
    });
  } finally {
    synthesizer?.dispose();
    teacher.model.dispose();
  }
  if (outOfBudget) {
    record.done = true;
    record.usedSeconds = Math.max(record.usedSeconds, ...Object.values(record.finishedAt));
  }
  await writeJsonAtomic(recordFile, record);
  log(`${record.done ? 'budget spent' : 'stopped'}: ${Object.keys(record.finishedAt).length} batches`);
}

interface LoadedRow {
  name: string;
  record: RowRecord;
  batches: SynthesizedBatch[];
  /** Clock seconds at which each of `batches` was committed (ascending). */
  times: number[];
}

async function loadRows(work: string): Promise<LoadedRow[]> {
  const rows: LoadedRow[] = [];
  for (const name of fs.readdirSync(work).sort()) {
    if (!fs.statSync(path.join(work, name)).isDirectory()) continue;
    const record = await readJson<RowRecord>(path.join(work, name, 'row.json'));
    if (record === undefined) continue;
    const dataset = await readDataset(path.join(work, name, 'data'), { requireComplete: false });
    // A batch whose last step ran past the budget finished after it: it does not count.
    const within = (b: SynthesizedBatch): boolean => (record.finishedAt[String(b.index)] ?? Infinity) <= record.budgetMinutes * 60;
    const batches = dataset.batches.filter(within).sort((a, b) => record.finishedAt[String(a.index)] - record.finishedAt[String(b.index)]);
    rows.push({ name, record, batches, times: batches.map((b) => record.finishedAt[String(b.index)]) });
  }
  return rows;
}

function subsetFeatures(features: Features, indices: readonly number[]): Features {
  const data = new Float32Array(indices.length * features.dimension);
  indices.forEach((from, to) =>
    data.set(features.data.subarray(from * features.dimension, (from + 1) * features.dimension), to * features.dimension),
  );
  return { data, count: indices.length, dimension: features.dimension };
}

function sample(count: number, size: number, seed: number): number[] {
  const random = new Random(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = random.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, size).sort((a, b) => a - b);
}

async function compare(args: Args, root: string): Promise<void> {
  const started = Date.now();
  const backend = await useBackend();
  const shared = sharedDir(root);
  const work = path.resolve(root, args.work);
  const log = (line: string): void => void process.stderr.write(`[compare ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
  const rows = (await loadRows(work)).filter((r) => r.batches.length > 0);
  if (rows.length === 0) throw new Error(`no finished rows under ${work}; run rows with --method first.`);
  const teacher: Teacher = await loadBundledTeacher('cifar10-resnet20');
  const verifier = await loadTeacher({ arch: 'resnet56', weights: path.join(shared, 'models', 'cifar10_resnet56.safetensors') });
  const layer = verifier.featureTaps[0];
  const set = await readCifar10(path.join(shared, 'data', 'cifar10-jpeg', 'test_batch.bin.gz'), args.real);
  const realImages = normalizedSlice(set, teacher.normalization, 0, args.real);
  const realFeatures = await embedFeatures(verifier, realImages, { layer });
  realImages.dispose();
  const reference = featureStatistics(realFeatures);
  log(`reference: ${args.real} test images at ${layer}`);

  const counts = rows.map((r) => r.batches.reduce((n, b) => n + b.shape[0], 0));
  const equal = Math.max(64, Math.min(...counts));
  const results: Array<Record<string, unknown>> = [];
  const curves: Array<{ label: string; accuracy: Array<[number, number]>; fd: Array<[number, number]> }> = [];
  for (const [r, row] of rows.entries()) {
    const { images, labels } = synthesizedImages(row.batches, teacher.normalization);
    const teacherAccuracy = await verifierAccuracy(teacher, images, labels);
    const features = await embedFeatures(verifier, images, { layer });
    // Per image: does the verifier's top-1 equal the target (for the checkpoints' prefixes).
    const correct: boolean[] = [];
    const logits = tf.tidy(() => tf.argMax(verifier.model.predict(images) as tf.Tensor, -1).dataSync());
    logits.forEach((p, i) => correct.push(p === labels[i]));
    images.dispose();
    const count = labels.length;
    const fdOf = (f: Features): number => round(frechetDistanceTerms(featureStatistics(f), reference).distance);
    const subset = sample(count, Math.min(equal, count), 1234);
    const subsetFeaturesOf = subsetFeatures(features, subset);
    const realSubset = subsetFeatures(realFeatures, sample(realFeatures.count, Math.min(subset.length, realFeatures.count), 99));
    const pr = precisionRecall(realSubset, subsetFeaturesOf, { k: 3 });
    // bench/outcome's protocol judges 64 images: the mean FD of five seeded random 64-image subsets is comparable with it.
    const fd64 = round(
      [0, 1, 2, 3, 4].map((k) => fdOf(subsetFeatures(features, sample(count, Math.min(64, count), 500 + k)))).reduce((a, b) => a + b, 0) /
        5,
    );
    const perBatch = row.batches.map((b) => b.shape[0]);
    // A finished row spent its whole budget (the batch it was making at the end was dropped).
    const minutes = row.record.done ? row.record.budgetMinutes : row.record.usedSeconds / 60;
    const checkpoints: Array<Record<string, number>> = [];
    const curve = { label: row.record.label, accuracy: [] as Array<[number, number]>, fd: [] as Array<[number, number]> };
    const prefixQuality = (n: number): { verifierAccuracy: number; fd: number } => ({
      verifierAccuracy: percent(correct.slice(0, n).filter(Boolean).length / n),
      fd: fdOf({ data: features.data.subarray(0, n * features.dimension), count: n, dimension: features.dimension }),
    });
    const madeBy = (seconds: number): number => perBatch.slice(0, row.times.filter((s) => s <= seconds).length).reduce((a, b) => a + b, 0);
    for (const t of [1, 2, 3, 5, 10, 15, 30, 60].filter((m) => m <= row.record.budgetMinutes)) {
      const n = madeBy(t * 60);
      if (n >= 2) checkpoints.push({ minutes: t, images: n, ...prefixQuality(n) });
    }
    // The chart: quality of everything made so far, at every finished batch (from the second image on).
    row.times.forEach((seconds) => {
      const n = madeBy(seconds);
      if (n < 2) return;
      const quality = prefixQuality(n);
      curve.accuracy.push([seconds / 60, quality.verifierAccuracy]);
      curve.fd.push([seconds / 60, quality.fd]);
    });
    curves.push(curve);
    const loads = row.record.loadAverages;
    results.push({
      row: row.name,
      label: row.record.label,
      method: METHODS[row.record.method],
      stepsPerBatch: row.record.steps,
      pyramid: row.record.pyramid,
      clock: row.record.clock,
      budgetMinutes: row.record.budgetMinutes,
      finished: row.record.done,
      usedMinutes: round(minutes, 2),
      batches: row.batches.length,
      images: count,
      imagesPerMinute: round(count / Math.max(minutes, 1e-9), 1),
      teacherPassesPerImage: row.record.steps,
      teacherAccuracy: percent(teacherAccuracy.accuracy),
      verifierAccuracy: percent(correct.filter(Boolean).length / count),
      fdAll: fdOf(features),
      fdEqual: fdOf(subsetFeaturesOf),
      fd64,
      equalSize: subset.length,
      precision: round(pr.precision),
      recall: round(pr.recall),
      checkpoints,
      loadAverage1mMean: loads.length === 0 ? null : round(loads.reduce((a, l) => a + l[0], 0) / loads.length, 2),
      sittings: row.record.sittings,
      settings: row.record.settings,
    });
    log(`${row.name}: ${JSON.stringify(results[r])}`);
  }
  const chart = path.resolve(root, args.chart);
  await fs.promises.mkdir(path.dirname(chart), { recursive: true });
  const clocks = [...new Set(rows.map((r) => r.record.clock))].join('/');
  await fs.promises.writeFile(
    chart,
    panelsChartPng(
      [
        {
          title: 'verifier top-1 on the targets (%)',
          xLabel: `${clocks} minutes`,
          series: curves.map((c, i) => ({ name: c.label, color: CHART_PALETTE[i % CHART_PALETTE.length], points: c.accuracy })),
        },
        {
          title: 'FD to real test images (all made so far)',
          xLabel: `${clocks} minutes`,
          fitY: true,
          series: curves.map((c, i) => ({ name: c.label, color: CHART_PALETTE[i % CHART_PALETTE.length], points: c.fd })),
        },
      ],
      { zlib: nodeZlib },
    ),
  );
  teacher.model.dispose();
  verifier.model.dispose();
  const output = {
    configuration: {
      ...machine(backend),
      teacher: 'cifar10-resnet20 (bundled)',
      verifier: verifier.name,
      featureLayer: `${layer} (global average pool)`,
      reference: `first ${args.real} images of cifar10-jpeg/test_batch.bin.gz`,
      equalSubset: `seeded random ${equal} images per row (the smallest row, at least 64); precision/recall k = 3 on it against as many real images`,
      chart: path.relative(root, chart),
      wallSeconds: round((Date.now() - started) / 1000, 1),
    },
    rows: results,
  };
  await writeJsonAtomic(path.join(work, 'budget.json'), output);
  console.log(JSON.stringify(output, null, 2));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = await findPackageRoot();
  if (args.compare) await compare(args, root);
  else await runRow(args, root);
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 1;
});
