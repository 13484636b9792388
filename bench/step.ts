/**
 * Seconds per step: natinv's DeepInversion and NaturalInversion synthesis steps and its KD and
 * cross-entropy training steps next to the same steps in PyTorch (bench/torch/step.py,
 * bench/torch/train_step.py), measured side by side in one run; prints one JSON object with the
 * machine (CPU model and class, ISA flags, TensorFlow threads, oneDNN, load).
 *
 * A natinv step is one iteration of `synthesize` as the deepInversion / naturalInversion presets
 * configure it (CIFAR settings): render, augment, teacher forward with taps, weighted objective,
 * gradients, one Adam per variable group, one host read of the loss, best-image tracking. It is
 * timed between consecutive `onStep` callbacks; the median over the timed steps is reported.
 *
 * Every (backend, row) runs in a child process of its own, so each reports its own peak RSS and
 * one backend cannot disturb another. On the tensorflow backend, the natinv run and the PyTorch
 * run of a row alternate `--repeat` times and the faster run of each is kept (other work on a
 * shared machine only slows a run down); every run's median is in the output too.
 *
 *   npm run bench:step -- [--quick] [--backends tensorflow,cpu,wasm] [--steps 10] [--warmup 2]
 *   (= npx esbuild bench/step.ts --bundle --platform=node --packages=external --outfile=build-tsc/bench/step.js
 *      && node build-tsc/bench/step.js ...)
 *
 * Options: --backends (default tensorflow,cpu,wasm); --steps / --warmup for the tensorflow rows and
 * PyTorch (default 10 / 2); --repeat (default 2); --rows, e.g. resnet20:di:64,resnet34:ni:64
 * (default: DI and NI for resnet20 at batch 64 and 256 and resnet34 at 64, and resnet20:kd:128 and
 * resnet20:ce:128, the training steps of runTrainingWorker); --slow-steps for cpu
 * and wasm (default 2, after one warm-up step); --slow-budget, the seconds a cpu/wasm row may take
 * (default 300): a row that runs past it, or that the s/step of a cheaper row predicts would, is
 * reported as too slow with the reason; --no-torch skips the baseline; --profile prints the
 * per-kernel time of the first row's timed steps instead; --quick is a smoke run (two rows, few
 * steps). NATINV_PYTHON picks the Python (default .venv/bin/python); NATINV_SHARED_DIR the shared
 * folder (default ../shared beside the repository).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { compose, flip, jitter } from '../src/augment';
import { buildZooModel, ZOO } from '../src/models/architectures';
import type { Teacher } from '../src/models/teacher';
import { loadTeacher } from '../src/models/zoo-files';
import { bnStatistics, crossEntropy, l2Prior, Objective, totalVariation, weighted } from '../src/objectives';
import { BackendName, tensorflowThreadSettings, useBackend } from '../src/runtime/backend';
import { oneToOneLabels } from '../src/sources/labels';
import { naturalSource } from '../src/sources/natural';
import { pixels } from '../src/sources/pixels';
import type { ImageSource } from '../src/sources/types';
import { DEEP_INVERSION_PRESETS, NATURAL_INVERSION_PRESETS } from '../src/synthesis/methods';
import { synthesize, SynthesisOptions } from '../src/synthesis/synthesize';
import { distill } from '../src/apps/distill';
import { trainFromScratch } from '../src/apps/supervised';

type Model = 'resnet20' | 'resnet34';
/** Synthesis steps (DI, NI) and training steps: KD of a fresh student (kd), supervised cross-entropy (ce: fine-tuning, training from scratch). */
type Method = 'di' | 'ni' | 'kd' | 'ce';
const TRAINING_METHODS: readonly Method[] = ['kd', 'ce'];

interface Row {
  readonly model: Model;
  readonly method: Method;
  readonly batch: number;
}

interface WorkerTask extends Row {
  readonly backend: BackendName;
  readonly steps: number;
  readonly warmup: number;
  readonly profile: boolean;
}

interface Measurement {
  readonly median_s: number;
  readonly mean_s: number;
  readonly min_s: number;
  readonly images_per_s: number;
  /** Process CPU time (all threads) per timed step. */
  readonly cpu_s_per_step: number;
  readonly peak_rss_mb: number;
  readonly steps: number;
  readonly warmup: number;
  readonly improved_steps: number;
  readonly first_loss: number;
  readonly last_loss: number;
}

interface NatinvMeasurement extends Measurement {
  /** Tensors alive after the last timed step minus before the first, per step. */
  readonly tensor_growth_per_step: number;
  /** Tensors alive after the run (result and source disposed) minus before it. */
  readonly tensors_left_after_run: number;
}

/** The repository: the nearest folder above this script whose package.json is natinv's. */
function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'natinv') return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

const REPO = repoRoot();
const SHARED_DIR = process.env.NATINV_SHARED_DIR ?? path.resolve(REPO, '..', 'shared');
const DEFAULT_ROWS: readonly Row[] = [
  { model: 'resnet20', method: 'di', batch: 64 },
  { model: 'resnet20', method: 'ni', batch: 64 },
  { model: 'resnet20', method: 'di', batch: 256 },
  { model: 'resnet20', method: 'ni', batch: 256 },
  { model: 'resnet34', method: 'di', batch: 64 },
  { model: 'resnet34', method: 'ni', batch: 64 },
  { model: 'resnet20', method: 'kd', batch: 128 },
  { model: 'resnet20', method: 'ce', batch: 128 },
];

// ----- worker: one (backend, row) in this process ----------------------------------------------

async function teacherFor(model: Model): Promise<Teacher> {
  if (model === 'resnet20') {
    return loadTeacher({ arch: 'resnet20', weights: path.join(SHARED_DIR, 'models', 'cifar10_resnet20.safetensors') });
  }
  // Random weights time the same as trained ones.
  const entry = ZOO.resnet34;
  return {
    name: 'resnet34-random',
    model: buildZooModel('resnet34', { seed: 0 }),
    normalization: entry.normalization,
    numClasses: 10,
    inputShape: [32, 32, 3],
    featureTaps: entry.featureTaps,
  };
}

/** The loop settings of the deepInversion / naturalInversion presets (CIFAR). */
function stepSetup(
  task: WorkerTask,
  teacher: Teacher,
): { source: ImageSource; options: Omit<SynthesisOptions, 'teacher' | 'source' | 'steps'> } {
  const labels = oneToOneLabels({ batchSize: task.batch, numClasses: teacher.numClasses, seed: 0 });
  if (task.method === 'di') {
    const preset = DEEP_INVERSION_PRESETS.cifar;
    const objective: Objective = weighted([
      [preset.weights.ce, crossEntropy()],
      [preset.weights.bn, bnStatistics()],
      [preset.weights.tv, totalVariation('l2', { name: 'tv' })],
    ]);
    return {
      source: pixels({ batchSize: task.batch, imageShape: [...teacher.inputShape], seed: 0, learningRate: preset.learningRate }),
      options: { objective, augmentation: jitter({ maxShift: 2 }), targets: labels },
    };
  }
  const { weights } = NATURAL_INVERSION_PRESETS.cifar10;
  const objective: Objective = weighted([
    [weights.ce, crossEntropy()],
    [weights.bn, bnStatistics()],
    [weights.tv, totalVariation('l2', { name: 'tv' })],
    [weights.l2, l2Prior('batch')],
  ]);
  return {
    source: naturalSource({ teacher, batchSize: task.batch, labels, seed: 0 }),
    options: { objective, augmentation: compose(jitter({ maxShift: 2 }), flip()) },
  };
}

/** What one worker measured, from its per-step times, tensor counts and losses (warm-up steps first). */
function summarize(
  task: WorkerTask,
  run: { times: number[]; counts: number[]; losses: number[]; cpu: NodeJS.CpuUsage; improved: number; before: number },
): NatinvMeasurement {
  const total = task.warmup + task.steps;
  const timed = run.times.slice(task.warmup);
  const median = quantile(timed, 0.5);
  return {
    median_s: median,
    mean_s: timed.reduce((a, b) => a + b, 0) / timed.length,
    min_s: Math.min(...timed),
    images_per_s: task.batch / median,
    cpu_s_per_step: (run.cpu.user + run.cpu.system) / 1e6 / task.steps,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    steps: task.steps,
    warmup: task.warmup,
    improved_steps: run.improved,
    first_loss: run.losses[0],
    last_loss: run.losses[run.losses.length - 1],
    tensor_growth_per_step: (run.counts[total - 1] - run.counts[task.warmup - 1]) / task.steps,
    tensors_left_after_run: tf.memory().numTensors - run.before,
  };
}

/**
 * One training step as the applications run it (src/apps/loop.ts): a minibatch of 128 random
 * images in [0, 1] (crop + flip off, as in the PyTorch step), the student forward and backward in
 * training mode, SGD with momentum 0.9 and weight decay 5e-4, one host read of the loss; for kd
 * the teacher's logits first (KL x T^2, T 20), for ce the cross-entropy toward labels.
 */
async function runTrainingWorker(task: WorkerTask): Promise<NatinvMeasurement> {
  const teacher = await teacherFor(task.model);
  const before = tf.memory().numTensors;
  const student = buildZooModel(task.model, { seed: 1 });
  const total = task.warmup + task.steps;
  const count = task.batch;
  const images01 = new Float32Array(count * 32 * 32 * 3).map((_, i) => ((i * 2654435761) % 1000) / 1000);
  const targets = Int32Array.from({ length: count }, (_, i) => i % teacher.numClasses);
  const images = { images01, count, shape: [count, 32, 32, 3] as [number, number, number, number], targets };
  const times: number[] = [];
  const counts: number[] = [];
  const losses: number[] = [];
  let last = performance.now();
  let cpuAtWarm = process.cpuUsage();
  const common = {
    images,
    steps: total,
    batchSize: count,
    momentum: 0.9,
    weightDecay: 5e-4,
    augmentation: false as const,
    onStep: (report: { loss: number }) => {
      const now = performance.now();
      if (times.length === task.warmup - 1) cpuAtWarm = process.cpuUsage();
      times.push((now - last) / 1000);
      last = now;
      counts.push(tf.memory().numTensors);
      losses.push(report.loss);
    },
  };
  if (task.method === 'kd') await distill({ ...common, teacher, student, learningRate: 0.1 });
  else await trainFromScratch({ ...common, model: student, normalization: teacher.normalization, learningRate: 1e-3 });
  const cpu = process.cpuUsage(cpuAtWarm);
  student.dispose();
  return summarize(task, { times, counts, losses, cpu, improved: 0, before });
}

async function runWorker(task: WorkerTask): Promise<NatinvMeasurement | Record<string, unknown>> {
  await useBackend(task.backend);
  if (TRAINING_METHODS.includes(task.method)) return runTrainingWorker(task);
  const teacher = await teacherFor(task.model);
  const before = tf.memory().numTensors;
  const { source, options } = stepSetup(task, teacher);
  const total = task.warmup + task.steps;
  const times: number[] = [];
  const counts: number[] = [];
  const losses: number[] = [];
  let improved = 0;
  let bestSeen = Infinity;
  let last = performance.now();
  let cpuAtWarm = process.cpuUsage();
  const run = (steps = total) =>
    synthesize({
      ...options,
      teacher,
      source,
      steps,
      onStep: (report) => {
        const now = performance.now();
        if (times.length === task.warmup - 1) cpuAtWarm = process.cpuUsage();
        times.push((now - last) / 1000);
        last = now;
        counts.push(tf.memory().numTensors);
        losses.push(report.loss);
        if (report.bestLoss < bestSeen) {
          bestSeen = report.bestLoss;
          improved += 1;
        }
      },
    });
  let kernels: Record<string, unknown> | undefined;
  if (task.profile) {
    // Profile the timed steps only: the first steps of a shape also build the backend's kernels.
    (await run(task.warmup)).images.dispose();
    const warmTimes = times.splice(0);
    const info = await tf.profile(async () => {
      (await run(task.steps)).images.dispose();
    });
    times.unshift(...warmTimes);
    kernels = summarizeKernels(info.kernels, task.steps);
  } else {
    (await run()).images.dispose();
  }
  source.dispose();
  const cpu = process.cpuUsage(cpuAtWarm);
  const measurement = summarize(task, { times, counts, losses, cpu, improved, before });
  return kernels == null ? measurement : { ...measurement, kernels };
}

/** Kernel time per step by kernel name, largest first (tf.profile's kernel list). */
function summarizeKernels(kernels: ReadonlyArray<{ name: string; kernelTimeMs: unknown }>, steps: number): Record<string, unknown> {
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const k of kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    byName.set(k.name, entry);
  }
  const sorted = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const totalMs = sorted.reduce((s, [, v]) => s + v.ms, 0);
  return {
    kernel_ms_per_step: totalMs / steps,
    kernel_calls_per_step: kernels.length / steps,
    by_kernel: Object.fromEntries(sorted.map(([name, v]) => [name, { ms_per_step: v.ms / steps, calls_per_step: v.calls / steps }])),
  };
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

// ----- orchestrator ----------------------------------------------------------------------------

interface Args {
  backends: BackendName[];
  rows: Row[];
  steps: number;
  warmup: number;
  slowSteps: number;
  slowBudgetS: number;
  torch: boolean;
  profile: boolean;
  repeat: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    backends: ['tensorflow', 'cpu', 'wasm'],
    rows: [...DEFAULT_ROWS],
    steps: 10,
    warmup: 2,
    slowSteps: 2,
    slowBudgetS: 300,
    torch: true,
    profile: false,
    repeat: 2,
  };
  const positive = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${value}.`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    switch (flag) {
      case '--backends':
        args.backends = (value ?? '').split(',') as BackendName[];
        if (args.backends.some((b) => !['tensorflow', 'cpu', 'wasm'].includes(b))) {
          throw new Error(`--backends takes tensorflow, cpu and/or wasm, got ${value}.`);
        }
        i++;
        break;
      case '--rows':
        args.rows = (value ?? '').split(',').map(parseRow);
        i++;
        break;
      case '--steps':
        args.steps = positive(flag, value);
        i++;
        break;
      case '--warmup':
        args.warmup = positive(flag, value);
        i++;
        break;
      case '--slow-steps':
        args.slowSteps = positive(flag, value);
        i++;
        break;
      case '--repeat':
        args.repeat = positive(flag, value);
        i++;
        break;
      case '--slow-budget':
        args.slowBudgetS = positive(flag, value);
        i++;
        break;
      case '--no-torch':
        args.torch = false;
        break;
      case '--profile':
        args.profile = true;
        break;
      case '--quick':
        args.steps = 3;
        args.warmup = 1;
        args.slowSteps = 1;
        args.repeat = 1;
        args.rows = [DEFAULT_ROWS[0], DEFAULT_ROWS[1]];
        break;
      default:
        throw new Error(`unknown argument ${flag}; see the header of bench/step.ts for the options.`);
    }
  }
  return args;
}

function parseRow(spec: string): Row {
  const [model, method, batch] = spec.split(':');
  if (
    (model !== 'resnet20' && model !== 'resnet34') ||
    !['di', 'ni', 'kd', 'ce'].includes(method) ||
    !(Number(batch) >= 1) ||
    (TRAINING_METHODS.includes(method as Method) && model !== 'resnet20')
  ) {
    throw new Error(
      `--rows entries look like resnet20:di:64 (model resnet20|resnet34, method di|ni, or kd|ce with resnet20, batch), got '${spec}'.`,
    );
  }
  return { model, method: method as Method, batch: Number(batch) };
}

/** Runs `command`, returning the JSON object on the last line of its stdout or why there is none. */
/** What a failed child said went wrong: its first error message line, else its last lines. */
function failureReason(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const message = lines.find((line) => /^\s*(\w*Error\b|Aborted\b)|out of memory/i.test(line));
  return message?.trim() ?? lines.slice(-5).join(' | ');
}

function runJson(command: string, argv: string[], timeoutS: number, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const started = Date.now();
  const child = spawnSync(command, argv, { encoding: 'utf8', timeout: timeoutS * 1000, env, maxBuffer: 64 << 20 });
  const seconds = (Date.now() - started) / 1000;
  if (child.error != null && (child.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    return { error: `did not finish within ${timeoutS} s; too slow on this machine at these settings` };
  }
  const lines = (child.stdout ?? '').trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  } catch {
    return {
      error: `exited with ${child.status ?? child.signal} after ${seconds.toFixed(0)} s: ${failureReason(child.stderr ?? '') || child.error?.message}`,
    };
  }
}

function python(): string {
  if (process.env.NATINV_PYTHON) return process.env.NATINV_PYTHON;
  const venv = path.join(REPO, '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python3';
}

function loadNow(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

/** The instruction-set extensions that decide which kernels TensorFlow and PyTorch run. */
function isaFlags(): Record<string, boolean> {
  let flags = new Set<string>();
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    flags = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    // Not Linux: the flags stay unknown (all false).
  }
  return { avx2: flags.has('avx2'), fma: flags.has('fma'), avx512f: flags.has('avx512f'), amx: flags.has('amx_tile') };
}

/** Rows are compared only within one class: the CPU vendor and its widest vector extension. */
function machineClass(): string {
  const isa = isaFlags();
  const vendor = /AMD/i.test(os.cpus()[0]?.model ?? '') ? 'AMD' : /Intel/i.test(os.cpus()[0]?.model ?? '') ? 'Intel' : os.arch();
  return `${vendor} ${isa.amx ? 'AMX' : isa.avx512f ? 'AVX-512' : isa.avx2 ? 'AVX2' : 'no AVX2'}`;
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  let tfjsNode: string | undefined;
  try {
    tfjsNode = (JSON.parse(fs.readFileSync(require.resolve('@tensorflow/tfjs-node/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    tfjsNode = undefined;
  }
  return {
    cpu: cpus[0]?.model,
    machine_class: machineClass(),
    isa: isaFlags(),
    cores: cpus.length,
    // What natinv's useBackend gives TensorFlow (the environment's own values win), and oneDNN.
    tensorflow_threads: tensorflowThreadSettings(),
    onednn: process.env.TF_ENABLE_ONEDNN_OPTS === '0' ? 'off (TF_ENABLE_ONEDNN_OPTS=0)' : 'on (TensorFlow default on x86)',
    load_avg_at_start: loadNow(),
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    tfjs: tf.version_core,
    tfjs_node: tfjsNode,
  };
}

/** Forward multiply-accumulates per image: the teacher, plus NI's generator (~0.12 G), for estimates. */
const TEACHER_MACS: Readonly<Record<Model, number>> = { resnet20: 41e6, resnet34: 1.16e9 };

function rowCost(row: Row): number {
  return row.batch * (TEACHER_MACS[row.model] + (row.method === 'ni' ? 0.12e9 : 0));
}

function medianOf(result: Record<string, unknown> | undefined): number | undefined {
  return typeof result?.median_s === 'number' ? result.median_s : undefined;
}

/** The natinv run and the PyTorch run of one tensorflow row, alternated `repeat` times. */
function measureAgainstTorch(args: Args, self: string, task: WorkerTask) {
  const natinvRuns: Array<Record<string, unknown>> = [];
  const torchRuns: Array<Record<string, unknown>> = [];
  for (let r = 0; r < args.repeat; r++) {
    natinvRuns.push(runJson(process.execPath, [self, '--worker', JSON.stringify(task)], 3600));
    if (args.torch) {
      torchRuns.push(
        runJson(
          python(),
          [
            ...(TRAINING_METHODS.includes(task.method)
              ? [path.join(REPO, 'bench', 'torch', 'train_step.py'), '--kind', task.method]
              : [path.join(REPO, 'bench', 'torch', 'step.py'), '--model', task.model, '--method', task.method]),
            '--batch',
            String(task.batch),
            '--steps',
            String(task.steps),
            '--warmup',
            String(task.warmup),
            '--threads',
            '2',
          ],
          3600,
        ),
      );
    }
  }
  // Other work on a shared machine only ever slows a run down: the faster of the runs is kept.
  const best = (runs: Array<Record<string, unknown>>) =>
    runs.filter((r) => medianOf(r) != null).sort((a, b) => (medianOf(a) as number) - (medianOf(b) as number))[0] ?? runs[0];
  return { natinv: best(natinvRuns), pytorch: args.torch ? best(torchRuns) : undefined, natinvRuns, torchRuns };
}

async function orchestrate(args: Args): Promise<void> {
  const self = process.argv[1];
  const rows: Array<Record<string, unknown>> = [];
  const startedAt = new Date().toISOString();
  const loadBefore = loadNow();
  let torchVersion: unknown;
  // PyTorch's s/step per row, measured beside the tensorflow rows: the cpu and wasm rows are compared with it too.
  const torchSeconds = new Map<string, number>();
  const rowKey = (row: Row): string => `${row.model}:${row.method}:${row.batch}`;
  for (const backend of args.backends) {
    const fast = backend === 'tensorflow';
    // On cpu and wasm: s/step of the cheapest finished row per method, and the cheapest row that ran out of time.
    const finished = new Map<Method, { cost: number; seconds: number; row: Row }>();
    const overBudget = new Map<Method, Row>();
    for (const row of args.rows) {
      const task: WorkerTask = {
        ...row,
        backend,
        steps: fast ? args.steps : args.slowSteps,
        warmup: fast ? args.warmup : 1,
        profile: args.profile,
      };
      const load = loadNow();
      if (args.profile) {
        const natinv = runJson(process.execPath, [self, '--worker', JSON.stringify(task)], 3600);
        process.stdout.write(`${JSON.stringify({ task, natinv }, null, 1)}\n`);
        return;
      }
      let natinv: Record<string, unknown>;
      let pytorch: Record<string, unknown> | undefined;
      let repeats: Record<string, unknown> = {};
      if (fast) {
        const measured = measureAgainstTorch(args, self, task);
        natinv = measured.natinv;
        pytorch = measured.pytorch;
        repeats = { natinv_runs_s: measured.natinvRuns.map(medianOf), pytorch_runs_s: measured.torchRuns.map(medianOf) };
        torchVersion ??= pytorch?.torch;
      } else {
        natinv = runSlow(args, self, task, finished, overBudget);
      }
      const ours = medianOf(natinv);
      const measuredTheirs = medianOf(pytorch);
      if (measuredTheirs != null) torchSeconds.set(rowKey(row), measuredTheirs);
      const theirs = measuredTheirs ?? torchSeconds.get(rowKey(row));
      rows.push({
        backend,
        ...row,
        natinv_s_per_step: ours ?? null,
        pytorch_s_per_step: theirs ?? null,
        ratio_natinv_over_pytorch: ours != null && theirs != null ? ours / theirs : null,
        natinv_images_per_s: ours != null ? row.batch / ours : null,
        pytorch_images_per_s: theirs != null ? row.batch / theirs : null,
        load_avg_1_5_15: load,
        ...(fast || theirs == null ? {} : { pytorch_measured_in: 'the tensorflow row of this run' }),
        ...repeats,
        natinv,
        ...(pytorch == null ? {} : { pytorch }),
      });
      process.stderr.write(
        `${JSON.stringify({ backend, ...row, natinv_s: ours, pytorch_s: theirs, note: natinv.error ?? natinv.skipped })}\n`,
      );
    }
  }
  const report = {
    benchmark: 'natinv synthesis and training steps vs PyTorch',
    started: startedAt,
    finished: new Date().toISOString(),
    command: `node ${path.relative(REPO, self)} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { ...machine(), torch: torchVersion, torch_threads: 2 },
    load_avg_1_5_15: { before: loadBefore, after: loadNow() },
    settings: {
      steps: args.steps,
      warmup: args.warmup,
      repeat: args.repeat,
      slow_steps: args.slowSteps,
      slow_warmup: 1,
      slow_budget_s: args.slowBudgetS,
    },
    rows,
  };
  process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
}

/**
 * One cpu or wasm row within the per-row budget, or why it was not run: a row is skipped when
 * a cheaper row of the same method already ran out of time, or when the s/step of a cheaper
 * finished row, scaled by the work (batch x forward MACs), predicts it cannot finish.
 */
function runSlow(
  args: Args,
  self: string,
  task: WorkerTask,
  finished: Map<Method, { cost: number; seconds: number; row: Row }>,
  overBudget: Map<Method, Row>,
): Record<string, unknown> {
  const cost = rowCost(task);
  const stepsNeeded = task.warmup + task.steps;
  const failed = overBudget.get(task.method);
  if (failed != null && rowCost(failed) <= cost) {
    return {
      skipped: `too slow here: the cheaper row ${failed.model} batch ${failed.batch} already ran past the ${args.slowBudgetS} s budget`,
    };
  }
  const known = finished.get(task.method);
  if (known != null) {
    const estimate = (known.seconds * cost) / known.cost;
    if (estimate * stepsNeeded > args.slowBudgetS) {
      return {
        skipped:
          `too slow here: about ${estimate.toFixed(0)} s per step (${known.seconds.toFixed(1)} s at ${known.row.model} batch ` +
          `${known.row.batch}, scaled by batch x forward MACs), so ${stepsNeeded} steps would exceed the ${args.slowBudgetS} s budget`,
        estimated_s_per_step: estimate,
      };
    }
  }
  const result = runJson(process.execPath, [self, '--worker', JSON.stringify(task)], args.slowBudgetS);
  const seconds = medianOf(result);
  if (seconds != null && (known == null || cost < known.cost)) finished.set(task.method, { cost, seconds, row: task });
  if (seconds == null && (failed == null || cost < rowCost(failed))) overBudget.set(task.method, task);
  return result;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--worker') {
    const result = await runWorker(JSON.parse(argv[1]) as WorkerTask);
    process.stdout.write(`\n${JSON.stringify({ impl: 'natinv', ...result })}\n`);
    return;
  }
  await orchestrate(parseArgs(argv));
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
