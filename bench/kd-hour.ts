/**
 * bench/kd-hour: the student's accuracy after a time budget of data-free distillation, the way a
 * user feels it. CIFAR-10 ResNet-20 teacher (../shared/models) into a fresh ResNet-20 student with
 * dataFreeDistill, one row per process (each resumable: rerun the same command to continue it),
 * then `--report` gathers the rows into one JSON and one chart.
 *
 *   npm run bench:kd-hour -- --row fast --minutes 60 --clock cpu
 *   npm run bench:kd-hour -- --report
 *
 * Rows: fast (fastSynthesizer with its adversarial term against the student after 20 rounds),
 * fast-plain (the same without it), ni and di (per-batch NaturalInversion / DeepInversion at
 * --steps per batch), real (real training images from cifar10-jpeg through the same loop: the
 * ceiling) and noise (N(0,1) images: the floor). Accuracy on the lossless 1,017 test images is
 * measured every 10 rounds; at 15, 30 and 60 minutes (and the end) also on the 10,000 JPEG ones.
 *
 * --clock cpu measures the budget in this process's CPU time (user + system, every thread), for a
 * shared, loaded machine; --clock wall (default) in wall time. Either way evaluation and
 * checkpoints are not counted. TensorFlow's thread pools are useBackend's (1 inter-op thread,
 * one intra-op thread per core) unless TF_NUM_INTEROP_THREADS / TF_NUM_INTRAOP_THREADS are set.
 */
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { dataFreeDistill, Evaluation } from '../src/apps';
import { loadDataFreeCheckpoint, saveDataFreeCheckpoint } from '../src/apps/data-free-folder';
import { lineChartPng } from '../src/io/chart';
import { nodeZlib } from '../src/io/node-zlib';
import { writeFileAtomic } from '../src/io/files';
import { buildZooModel } from '../src/models/architectures';
import type { Teacher } from '../src/models/teacher';
import { loadTeacher } from '../src/models/zoo-files';
import { backendFromEnv, useBackend } from '../src/runtime/backend';
import { normalize } from '../src/synthesis/batch';
import { fastSynthesizer } from '../src/synthesis/fast';
import { deepInversionSynthesizer, naturalInversionSynthesizer } from '../src/synthesis/per-batch-synthesizers';
import type { BatchSynthesizer } from '../src/synthesis/synthesizer';
import { finishedBatch } from '../src/synthesis/trainer';
import { deriveSeed, Random } from '../src/util/random';
import { HostSet, machine, percent, readCifar10, readJson, round, sharedDir, writeJsonAtomic } from './common';

const ROWS = ['fast', 'fast-plain', 'ni', 'di', 'real', 'noise'] as const;
type Row = (typeof ROWS)[number];
const ROW_NAMES: Record<Row, string> = {
  fast: 'fast (meta-learned generator, adversarial term)',
  'fast-plain': 'fast without the adversarial term',
  ni: 'NaturalInversion per batch',
  di: 'DeepInversion per batch',
  real: 'real training images (ceiling)',
  noise: 'N(0,1) noise (floor)',
};
const MARK_MINUTES = [15, 30, 45, 60, 90, 120];
const PIXELS = 32 * 32 * 3;

interface Flags {
  row?: Row;
  report: boolean;
  minutes: number;
  clock: 'wall' | 'cpu';
  out: string;
  steps: number;
  batchSize: number;
  kdSteps: number;
  seed: number;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = {
    report: false,
    minutes: 60,
    clock: 'wall',
    out: 'build-tsc/bench/kd-hour',
    steps: 50,
    batchSize: 128,
    kdSteps: 20,
    seed: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value.`);
      return v;
    };
    const number = (min: number): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min) throw new Error(`${flag} must be a number >= ${min}.`);
      return n;
    };
    if (flag === '--row') {
      const row = value() as Row;
      if (!ROWS.includes(row)) throw new Error(`--row must be one of ${ROWS.join(', ')}, got ${row}.`);
      flags.row = row;
    } else if (flag === '--report') flags.report = true;
    else if (flag === '--minutes') flags.minutes = number(0.01);
    else if (flag === '--clock') {
      const clock = value();
      if (clock !== 'wall' && clock !== 'cpu') throw new Error(`--clock must be wall or cpu, got ${clock}.`);
      flags.clock = clock;
    } else if (flag === '--out') flags.out = value();
    else if (flag === '--steps') flags.steps = number(1);
    else if (flag === '--batch-size') flags.batchSize = number(1);
    else if (flag === '--kd-steps') flags.kdSteps = number(1);
    else if (flag === '--seed') flags.seed = number(0);
    else throw new Error(`unknown flag ${flag}; use --row ROW [--minutes N] [--clock wall|cpu] [--steps N] [--out DIR] or --report.`);
  }
  if (!flags.report && flags.row === undefined) throw new Error(`give --row (${ROWS.join(', ')}) or --report.`);
  return flags;
}

/** Batches of given images (already in [0, 1]) as a BatchSynthesizer: the real-data ceiling and the noise floor. */
function fixedSynthesizer(
  teacher: Teacher,
  method: string,
  make: (index: number) => { images01: Float32Array; labels: Int32Array },
): BatchSynthesizer {
  return {
    method,
    async synthesizeBatch(index) {
      const { images01, labels } = make(index);
      const count = labels.length;
      const images = tf.tidy(() => normalize(tf.tensor4d(images01, [count, 32, 32, 3]), teacher.normalization));
      try {
        return finishedBatch(
          teacher,
          { method, seed: 0, index, labels },
          {
            images,
            targets: labels,
            bestLoss: 0,
            bestStep: 0,
            terms: {},
            steps: 0,
            aborted: false,
          },
        );
      } finally {
        images.dispose();
      }
    },
    saveState: () => ({ tensors: {}, json: {} }),
    restoreState: () => undefined,
    dispose: () => undefined,
  };
}

async function synthesizerFor(row: Row, teacher: Teacher, flags: Flags, shared: string): Promise<BatchSynthesizer> {
  const { batchSize, seed } = flags;
  if (row === 'fast' || row === 'fast-plain') return fastSynthesizer(teacher, { batchSize, seed, adversarial: { warmupBatches: 20 } });
  if (row === 'ni') return naturalInversionSynthesizer(teacher, { batchSize, seed, steps: flags.steps });
  if (row === 'di') return deepInversionSynthesizer(teacher, { batchSize, seed, steps: flags.steps });
  if (row === 'noise') {
    return fixedSynthesizer(teacher, 'noise', (index) => {
      const random = new Random(deriveSeed(seed, 'noise', index));
      const images01 = tf.tidy(() => {
        const z = tf.randomNormal([batchSize, 32, 32, 3], 0, 1, 'float32', random.seed());
        const { mean, std } = teacher.normalization;
        return tf.clipByValue(tf.add(tf.mul(z, tf.tensor1d([...std])), tf.tensor1d([...mean])), 0, 1).dataSync() as Float32Array;
      });
      return { images01: Float32Array.from(images01), labels: new Int32Array(batchSize) };
    });
  }
  const train: HostSet[] = [];
  for (let b = 1; b <= 5; b++) train.push(await readCifar10(path.join(shared, 'data/cifar10-jpeg', `data_batch_${b}.bin.gz`)));
  const total = train.reduce((n, s) => n + s.count, 0);
  const order = new Int32Array(total).map((_, i) => i);
  const random = new Random(deriveSeed(seed, 'real-order'));
  for (let i = total - 1; i > 0; i--) {
    const j = random.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return fixedSynthesizer(teacher, 'real', (index) => {
    const images01 = new Float32Array(batchSize * PIXELS);
    const labels = new Int32Array(batchSize);
    for (let n = 0; n < batchSize; n++) {
      const at = order[(index * batchSize + n) % total];
      const set = train[Math.floor(at / 10000)];
      const k = at % 10000;
      images01.set(set.images01.subarray(k * PIXELS, (k + 1) * PIXELS), n * PIXELS);
      labels[n] = set.labels[k];
    }
    return { images01, labels };
  });
}

async function accuracy(student: Parameters<typeof dataFreeDistill>[0]['student'], teacher: Teacher, set: HostSet): Promise<number> {
  let correct = 0;
  for (let start = 0; start < set.count; start += 500) {
    const n = Math.min(500, set.count - start);
    const predictions = tf.tidy(() => {
      const x = normalize(tf.tensor4d(set.images01.subarray(start * PIXELS, (start + n) * PIXELS), [n, 32, 32, 3]), teacher.normalization);
      return tf.argMax(student.predict(x) as tf.Tensor, -1).dataSync();
    });
    for (let i = 0; i < n; i++) if (predictions[i] === set.labels[start + i]) correct += 1;
  }
  return correct / set.count;
}

interface Mark {
  minutes: number;
  round: number;
  elapsedMinutes: number;
  imagesSynthesized: number;
  kdSteps: number;
  lossless1017: number;
  jpeg10000: number;
}

interface RowFile {
  row: Row;
  name: string;
  configuration: Record<string, unknown>;
  done: boolean;
  rounds: number;
  plannedRounds: number;
  imagesSynthesized: number;
  kdSteps: number;
  minutes: { elapsed: number; synthesis: number; kd: number };
  marks: Mark[];
  evaluations: Array<Omit<Evaluation, 'accuracy' | 'elapsedMs'> & { minutes: number; lossless1017: number }>;
  machine: Record<string, unknown>;
  cpuModel: string;
}

async function runRow(flags: Flags, root: string): Promise<void> {
  const row = flags.row as Row;
  const shared = sharedDir(root);
  const backend = await useBackend(process.env.NATINV_BACKEND === undefined ? 'tensorflow' : backendFromEnv());
  const folder = path.resolve(root, flags.out, row);
  const teacher = await loadTeacher({ arch: 'resnet20', weights: path.join(shared, 'models/cifar10_resnet20.safetensors') });
  const lossless = await readCifar10(path.join(shared, 'data/cifar10/test_batch_first1017.bin.gz'));
  const jpeg = await readCifar10(path.join(shared, 'data/cifar10-jpeg/test_batch.bin.gz'));
  const student = buildZooModel('resnet20', { seed: deriveSeed(flags.seed, 'student') });
  const synthesizer = await synthesizerFor(row, teacher, flags, shared);
  const configuration = {
    row,
    minutes: flags.minutes,
    clock: flags.clock,
    batchSize: flags.batchSize,
    kdSteps: flags.kdSteps,
    steps: row === 'ni' || row === 'di' ? flags.steps : null,
    seed: flags.seed,
    backend,
  };
  const loaded = await loadDataFreeCheckpoint(folder);
  if (loaded !== undefined && JSON.stringify(loaded.configuration) !== JSON.stringify(configuration)) {
    throw new Error(`${folder} holds a run of other settings (${JSON.stringify(loaded.configuration)}); delete it or use another --out.`);
  }
  const rowFile = path.join(folder, 'row.json');
  const previous = await readJson<RowFile>(rowFile);
  const marks: Mark[] = loaded === undefined ? [] : (previous?.marks ?? []);
  const clock =
    flags.clock === 'cpu'
      ? () => {
          const usage = process.cpuUsage();
          return (usage.user + usage.system) / 1000;
        }
      : Date.now;
  const budgetMs = flags.minutes * 60_000;
  const markMinutes = [...MARK_MINUTES.filter((m) => m < flags.minutes), flags.minutes];
  let lastProgress = 0;
  const write = async (
    result: Parameters<NonNullable<Parameters<typeof dataFreeDistill>[0]['onRound']>>[0] | undefined,
    done: boolean,
    evaluations: readonly Evaluation[],
  ) => {
    const file: RowFile = {
      row,
      name: ROW_NAMES[row],
      configuration,
      done,
      rounds: result?.round ?? 0,
      plannedRounds: result?.rounds ?? 0,
      imagesSynthesized: result?.imagesSynthesized ?? 0,
      kdSteps: result?.kdSteps ?? 0,
      minutes: {
        elapsed: round((result?.elapsedMs ?? 0) / 60_000, 2),
        synthesis: round((result?.synthesisMs ?? 0) / 60_000, 2),
        kd: round((result?.kdMs ?? 0) / 60_000, 2),
      },
      marks,
      evaluations: evaluations.map(({ accuracy: a, elapsedMs, ...rest }) => ({
        ...rest,
        minutes: round(elapsedMs / 60_000, 2),
        lossless1017: percent(a),
      })),
      machine: machine(backend),
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
    };
    await writeJsonAtomic(rowFile, file);
  };
  let evaluations: readonly Evaluation[] = loaded?.snapshot.json.evaluations ?? [];
  process.stderr.write(
    `kd-hour ${row}: ${flags.minutes} ${flags.clock} minutes, backend ${backend}${loaded ? `, resuming at round ${loaded.snapshot.json.round}` : ''}\n`,
  );
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`  ${signal}: stopping after the current step, with a checkpoint\n`);
      controller.abort();
    });
  }
  try {
    const result = await dataFreeDistill({
      teacher,
      student,
      synthesizer,
      budgetMs,
      clock,
      kdSteps: flags.kdSteps,
      batchSize: flags.batchSize,
      seed: flags.seed,
      synthesizeAgainstStudent: row === 'fast',
      testSet: { images01: lossless.images01, labels: lossless.labels },
      evaluateEvery: 10,
      resume: loaded?.snapshot,
      signal: controller.signal,
      checkpoint: (snapshot) => saveDataFreeCheckpoint(folder, snapshot, configuration),
      checkpointEveryMs: 180_000,
      onRound: async (report) => {
        const pending = markMinutes.filter(
          (m) => !marks.some((k) => k.minutes === m) && (report.elapsedMs >= m * 60_000 || report.round === report.rounds),
        );
        if (pending.length > 0) {
          const [l, j] = [await accuracy(student, teacher, lossless), await accuracy(student, teacher, jpeg)];
          for (const m of pending) {
            marks.push({
              minutes: m,
              round: report.round,
              elapsedMinutes: round(report.elapsedMs / 60_000, 2),
              imagesSynthesized: report.imagesSynthesized,
              kdSteps: report.kdSteps,
              lossless1017: percent(l),
              jpeg10000: percent(j),
            });
          }
          process.stderr.write(`  mark ${pending.join('/')} min: lossless ${percent(l)} %, jpeg ${percent(j)} %\n`);
        }
        if (Date.now() - lastProgress > 30_000 || report.testAccuracy !== undefined) {
          lastProgress = Date.now();
          process.stderr.write(
            `  round ${report.round}/${report.rounds ?? '?'} kd ${report.kdLoss.toFixed(3)} pool ${report.poolSize} ` +
              `test ${report.lastTestAccuracy === undefined ? '-' : percent(report.lastTestAccuracy)} ` +
              `${(report.elapsedMs / 60_000).toFixed(1)} min (synthesis ${(report.synthesisMs / 60_000).toFixed(1)})\n`,
          );
        }
        await write(report, false, evaluations);
      },
    });
    evaluations = result.evaluations;
    await write(
      {
        round: result.rounds,
        rounds: result.plannedRounds,
        imagesSynthesized: result.imagesSynthesized,
        kdSteps: result.kdSteps,
        elapsedMs: result.elapsedMs,
        synthesisMs: result.synthesisMs,
        kdMs: result.kdMs,
        poolSize: 0,
        kdLoss: 0,
        learningRate: 0,
        synthesisLoss: 0,
      },
      !result.aborted,
      evaluations,
    );
    process.stderr.write(result.aborted ? `  stopped at round ${result.rounds}; rerun to continue\n` : `  done: ${rowFile}\n`);
  } finally {
    synthesizer.dispose();
    student.dispose();
    teacher.model.dispose();
  }
}

async function report(flags: Flags, root: string): Promise<void> {
  const rows: RowFile[] = [];
  for (const row of ROWS) {
    const file = await readJson<RowFile>(path.resolve(root, flags.out, row, 'row.json'));
    if (file !== undefined) rows.push(file);
  }
  if (rows.length === 0) throw new Error(`no rows under ${flags.out}; run --row first.`);
  const out = path.resolve(root, flags.out);
  await writeJsonAtomic(path.join(out, 'kd-hour.json'), { rows, machine: machine(String(rows[0].configuration.backend)) });
  const chart = lineChartPng(
    rows.map((r) => ({
      name: `${r.row} (${String(r.configuration.clock)} clock)`,
      points: r.evaluations.map((e): [number, number] => [e.minutes, e.lossless1017]),
    })),
    {
      title: 'student top-1 on the lossless 1,017 CIFAR-10 test images',
      xLabel: 'minutes (synthesis + KD)',
      yLabel: '%',
      yMax: 100,
      // A run planned within its budget can still end past it (the plan is an estimate): show all of it.
      xMax: Math.max(...rows.flatMap((r) => [Number(r.configuration.minutes), ...r.evaluations.map((e) => e.minutes)])),
      zlib: nodeZlib,
    },
  );
  await writeFileAtomic(path.join(out, 'kd-hour.png'), chart);
  process.stdout.write(`${JSON.stringify({ rows: rows.map((r) => ({ row: r.row, done: r.done, marks: r.marks })) }, null, 2)}\n`);
  process.stderr.write(`wrote ${path.join(out, 'kd-hour.json')} and kd-hour.png\n`);
}

const ROOT = path.resolve(__dirname, '../..');
const flags = parseFlags(process.argv.slice(2));
(flags.report ? report(flags, ROOT) : runRow(flags, ROOT)).catch((error: Error) => {
  process.stderr.write(`kd-hour: ${error.message}\n`);
  process.exitCode = 1;
});
