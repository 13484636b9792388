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
import * as path from 'path';
import type { BackendName } from '../src/runtime/backend';
import { benchMain, loadNow, machine, Method, Model, python, REPO, Row, runJson, TRAINING_METHODS, WorkerTask } from './step-node';

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

benchMain((argv) => orchestrate(parseArgs(argv)));
