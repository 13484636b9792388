/**
 * The Node side of the step benches (bench/step.ts, bench/browser-step.ts): the worker that times
 * one (backend, row) in a process of its own (`--worker`), and what the orchestrators share:
 * running a child for its JSON, the Python to run PyTorch with, and the machine's description.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { buildZooModel, ZOO } from '../src/models/architectures';
import type { Teacher } from '../src/models/teacher';
import { loadTeacher } from '../src/models/zoo-files';
import { BackendName, tensorflowEnvironment, useBackend } from '../src/runtime/backend';
import { distill } from '../src/apps/distill';
import { trainFromScratch } from '../src/apps/supervised';
import { quantile, SynthesisMethod, stepRunner } from './step-setup';

export type Model = 'resnet20' | 'resnet34';
/** Synthesis steps (DI, NI) and training steps: KD of a fresh student (kd), supervised cross-entropy (ce: fine-tuning, training from scratch). */
export type Method = 'di' | 'ni' | 'kd' | 'ce';
export const TRAINING_METHODS: readonly Method[] = ['kd', 'ce'];

export interface Row {
  readonly model: Model;
  readonly method: Method;
  readonly batch: number;
}

export interface WorkerTask extends Row {
  readonly backend: BackendName;
  readonly steps: number;
  readonly warmup: number;
  readonly profile: boolean;
}

interface Measurement {
  readonly median_s: number;
  readonly mean_s: number;
  readonly min_s: number;
  /** Every timed step's seconds, in order. */
  readonly times_s: readonly number[];
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

export interface NatinvMeasurement extends Measurement {
  /** Tensors alive after the last timed step minus before the first, per step. */
  readonly tensor_growth_per_step: number;
  /** Tensors alive after the run (result and source disposed) minus before it. */
  readonly tensors_left_after_run: number;
}

/** The repository: the nearest folder above this script whose package.json is natinv's. */
export function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'natinv') return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

export const REPO = repoRoot();
export const SHARED_DIR = process.env.NATINV_SHARED_DIR ?? path.resolve(REPO, '..', 'shared');

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
    times_s: timed,
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
async function runTrainingWorker(task: WorkerTask): Promise<NatinvMeasurement | Record<string, unknown>> {
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
  const train = async (): Promise<void> => {
    if (task.method === 'kd') await distill({ ...common, teacher, student, learningRate: 0.1 });
    else await trainFromScratch({ ...common, model: student, normalization: teacher.normalization, learningRate: 1e-3 });
  };
  // A profile here covers the warm-up steps too (one training call runs them all).
  const kernels = task.profile ? summarizeKernels((await tf.profile(train)).kernels, total) : (await train(), undefined);
  const cpu = process.cpuUsage(cpuAtWarm);
  student.dispose();
  const measurement = summarize(task, { times, counts, losses, cpu, improved: 0, before });
  return kernels == null ? measurement : { ...measurement, kernels };
}

/** Times one (backend, row) in this process; the caller prints the JSON. */
export async function runWorker(task: WorkerTask): Promise<NatinvMeasurement | Record<string, unknown>> {
  await useBackend(task.backend);
  if (TRAINING_METHODS.includes(task.method)) return runTrainingWorker(task);
  const teacher = await teacherFor(task.model);
  const before = tf.memory().numTensors;
  let cpuAtWarm = process.cpuUsage();
  const { source, record, run } = stepRunner(teacher, task.method as SynthesisMethod, task.batch, task.warmup, () => {
    cpuAtWarm = process.cpuUsage();
  });
  const { times, counts, losses } = record;
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
    (await run(task.warmup + task.steps)).images.dispose();
  }
  source.dispose();
  const cpu = process.cpuUsage(cpuAtWarm);
  const measurement = summarize(task, { times, counts, losses, cpu, improved: record.improved, before });
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

// ----- what the orchestrators share ------------------------------------------------------------

/** What a failed child said went wrong: its first error message line, else its last lines. */
function failureReason(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const message = lines.find((line) => /^\s*(\w*Error\b|Aborted\b)|out of memory/i.test(line));
  return message?.trim() ?? lines.slice(-5).join(' | ');
}

/** Runs `command`, returning the JSON object on the last line of its stdout or why there is none. */
export function runJson(command: string, argv: string[], timeoutS: number, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
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

/** The Python that runs bench/torch: NATINV_PYTHON, else the repository's .venv, else python3. */
export function python(): string {
  if (process.env.NATINV_PYTHON) return process.env.NATINV_PYTHON;
  const venv = path.join(REPO, '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python3';
}

/** The 1, 5 and 15 minute load averages. */
export function loadNow(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

/** The instruction-set extensions that decide which kernels TensorFlow and PyTorch run. */
export function isaFlags(): Record<string, boolean> {
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
export function machineClass(): string {
  const isa = isaFlags();
  const vendor = /AMD/i.test(os.cpus()[0]?.model ?? '') ? 'AMD' : /Intel/i.test(os.cpus()[0]?.model ?? '') ? 'Intel' : os.arch();
  return `${vendor} ${isa.amx ? 'AMX' : isa.avx512f ? 'AVX-512' : isa.avx2 ? 'AVX2' : 'no AVX2'}`;
}

export function machine(): Record<string, unknown> {
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
    // What natinv's useBackend gives TensorFlow: threads and oneDNN (the environment's own values win).
    tensorflow_environment: tensorflowEnvironment(),
    load_avg_at_start: loadNow(),
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    tfjs: tf.version_core,
    tfjs_node: tfjsNode,
  };
}

/**
 * A bench's entry: `--worker <task JSON>` times one natinv row in this process (the orchestrator
 * starts one such child per row) and prints its measurement; anything else is the orchestrator's
 * command line. Errors end the process with their stack.
 */
export function benchMain(orchestrate: (argv: string[]) => Promise<void>): void {
  const argv = process.argv.slice(2);
  const run = async (): Promise<void> => {
    if (argv[0] === '--worker') {
      const result = await runWorker(JSON.parse(argv[1]) as WorkerTask);
      process.stdout.write(`\n${JSON.stringify({ impl: 'natinv', ...result })}\n`);
      return;
    }
    await orchestrate(argv);
  };
  run().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
