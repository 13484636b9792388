/**
 * Milliseconds per synthesis step in a browser: natinv's DeepInversion and NaturalInversion steps
 * (bench/step-setup.ts, the step bench/step.ts times in Node) in headless Chromium on each
 * browser backend (webgl, webgpu when Chromium offers an adapter, wasm, cpu), next to the same
 * step on tfjs-node (the tensorflow backend, in a child process as bench/step.ts runs it) and in
 * PyTorch (bench/torch/step.py, with 1 thread and with one per core), all in one run on one
 * machine. Prints one JSON object: per backend and method the ms/step (mean, median, standard
 * deviation, min, max over the timed steps), the ratios of the means to PyTorch (the faster of
 * its thread counts: on a busy machine its OpenMP pool can lose far more than its share) and to
 * tfjs-node, the tensors alive per step, the load average before and after, and what the backend
 * ran on (WebGL renderer, WebGPU adapter, wasm SIMD / threads, CPU model, Chromium version,
 * commit); writes a chart of every timed step.
 *
 * Teacher: the CIFAR-10 ResNet-20 of ../shared/models (served to the page under /models/); the
 * page is bundled with esbuild and served on 127.0.0.1 as the browser suite does
 * (test/browser/harness.ts), Chromium gets the suite's flags (SwiftShader for WebGL and WebGPU).
 * Each (backend, method) runs in a fresh page. A backend that cannot start, a run that throws and
 * a run past its budget are reported with the reason instead of a time.
 *
 *   npm run bench:browser-step -- [--batch 64] [--steps 5] [--warmup 2] [--cpu-steps 1]
 *     [--backends webgl,webgpu,wasm,cpu] [--methods di,ni] [--budget 1800] [--no-node] [--no-torch]
 *     [--torch-threads 1,2] [--chart docs/images/browser-step.png]
 *
 * --steps / --warmup apply to every backend but cpu, which times --cpu-steps steps after one
 * warm-up step (its step takes minutes); --budget is the seconds one browser (backend, method)
 * may take. NATINV_PYTHON picks the Python (default .venv/bin/python), NATINV_SHARED_DIR the
 * shared folder, CHROMIUM_PATH the browser (default /usr/bin/chromium).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { bundle, launchChromium, serveStatic } from '../test/browser/harness';
import { CHART_PALETTE, ChartSeries, panelsChartPng } from '../src/io/chart';
import { nodeZlib } from '../src/io/node-zlib';
import type { BrowserStepRun } from './pages/browser-step';
import { quantile, SynthesisMethod } from './step-setup';
import { benchMain, loadNow, machine, python, REPO, runJson, SHARED_DIR, WorkerTask } from './step-node';

const BROWSER_BACKENDS = ['webgl', 'webgpu', 'wasm', 'cpu'] as const;
type BrowserBackend = (typeof BROWSER_BACKENDS)[number];

interface Args {
  batch: number;
  steps: number;
  warmup: number;
  cpuSteps: number;
  backends: BrowserBackend[];
  methods: SynthesisMethod[];
  budgetS: number;
  node: boolean;
  torch: boolean;
  /** PyTorch's thread counts (torch.set_num_threads), each timed; the faster is the ratios' baseline. */
  torchThreads: number[];
  chart: string;
}

declare global {
  interface Window {
    natinvBench: {
      time(backend: string, method: SynthesisMethod, batch: number, warmup: number, steps: number): Promise<BrowserStepRun>;
      environment(): Promise<Record<string, unknown>>;
    };
  }
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    batch: 64,
    steps: 5,
    warmup: 2,
    cpuSteps: 1,
    backends: [...BROWSER_BACKENDS],
    methods: ['di', 'ni'],
    budgetS: 1800,
    node: true,
    torch: true,
    torchThreads: [...new Set([1, os.cpus().length])],
    chart: 'docs/images/browser-step.png',
  };
  const positive = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${value}.`);
    return n;
  };
  const list = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] => {
    const items = (value ?? '').split(',') as T[];
    if (items.some((item) => !allowed.includes(item))) throw new Error(`${flag} takes ${allowed.join(', ')}, got ${value}.`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const takesValue = !['--no-node', '--no-torch'].includes(flag);
    if (flag === '--batch') args.batch = positive(flag, value);
    else if (flag === '--steps') args.steps = positive(flag, value);
    else if (flag === '--warmup') args.warmup = positive(flag, value);
    else if (flag === '--cpu-steps') args.cpuSteps = positive(flag, value);
    else if (flag === '--budget') args.budgetS = positive(flag, value);
    else if (flag === '--backends') args.backends = list(flag, value, BROWSER_BACKENDS);
    else if (flag === '--methods') args.methods = list(flag, value, ['di', 'ni'] as const);
    else if (flag === '--torch-threads') args.torchThreads = (value ?? '').split(',').map((t) => positive(flag, t));
    else if (flag === '--chart') args.chart = value ?? '';
    else if (flag === '--no-node') args.node = false;
    else if (flag === '--no-torch') args.torch = false;
    else throw new Error(`unknown argument ${flag}; see the header of bench/browser-step.ts for the options.`);
    if (takesValue) i++;
  }
  return args;
}

/** One (backend, method) measurement, normalized across browser, tfjs-node and PyTorch runs. */
interface Measured {
  /** Seconds of every timed step, in order; empty when the run gave no time. */
  times_s: number[];
  warmup: number;
  /** Why there is no time: the backend could not start, the run threw or ran past its budget. */
  error?: string;
  tensor_growth_per_step?: number;
  tensors_left_after_run?: number;
  details?: Record<string, unknown>;
}

function spread(times: readonly number[]): Record<string, number> | null {
  if (times.length === 0) return null;
  const ms = times.map((t) => t * 1000);
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const sd = ms.length > 1 ? Math.sqrt(ms.reduce((a, b) => a + (b - mean) ** 2, 0) / (ms.length - 1)) : 0;
  const round = (x: number) => Number(x.toPrecision(4));
  return { mean: round(mean), median: round(quantile(ms, 0.5)), sd: round(sd), min: round(Math.min(...ms)), max: round(Math.max(...ms)) };
}

function fromChild(result: Record<string, unknown>, warmup: number): Measured {
  if (typeof result.error === 'string' || !Array.isArray(result.times_s))
    return { times_s: [], warmup, error: typeof result.error === 'string' ? result.error : 'the child reported no step times' };
  const { times_s, tensor_growth_per_step, tensors_left_after_run, ...details } = result;
  return {
    times_s: times_s as number[],
    warmup,
    ...(typeof tensor_growth_per_step === 'number' ? { tensor_growth_per_step } : {}),
    ...(typeof tensors_left_after_run === 'number' ? { tensors_left_after_run } : {}),
    details,
  };
}

function fromPage(run: BrowserStepRun, warmup: number): Measured {
  const total = run.counts.length;
  return {
    times_s: run.times.slice(warmup),
    warmup,
    // Tensors alive after the last timed step minus after the last warm-up step, per timed step.
    tensor_growth_per_step: (run.counts[total - 1] - run.counts[warmup - 1]) / (total - warmup),
    tensors_left_after_run: run.tensorsAfter - run.tensorsBefore,
    details: {
      backend: run.backend,
      tensors_after_each_step: run.counts,
      improved_steps: run.improved,
      first_loss: run.losses[0],
      last_loss: run.losses[total - 1],
      flags: run.flags,
    },
  };
}

function commitOf(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
}

/** Runs one (backend, method) in a fresh page, within `budgetS` seconds. */
async function timeInPage(
  browser: Browser,
  url: string,
  backend: BrowserBackend,
  method: SynthesisMethod,
  batch: number,
  warmup: number,
  steps: number,
  budgetS: number,
): Promise<Measured> {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  let timer: NodeJS.Timeout | undefined;
  try {
    await page.goto(url);
    await page.waitForFunction(() => 'natinvBench' in window);
    const overBudget = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not finish ${warmup} + ${steps} steps within the ${budgetS} s budget`)),
        budgetS * 1000,
      );
    });
    const run = await Promise.race([
      page.evaluate(([b, m, n, w, s]) => window.natinvBench.time(b, m, n, w, s), [backend, method, batch, warmup, steps] as const),
      overBudget,
    ]);
    return fromPage(run, warmup);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    return { times_s: [], warmup, error: [message, ...pageErrors].join('; ') };
  } finally {
    clearTimeout(timer);
    await page.close().catch(() => undefined);
  }
}

function progress(line: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

async function orchestrate(args: Args): Promise<void> {
  const self = process.argv[1];
  const startedAt = new Date().toISOString();
  const loadBefore = loadNow();
  const commit = commitOf();
  const rows: Array<Record<string, unknown>> = [];
  const measured = new Map<string, Measured>();
  const record = (backend: string, runtime: string, method: SynthesisMethod, m: Measured, load: number[]): void => {
    measured.set(`${backend}:${method}`, m);
    rows.push({ backend, runtime, method, batch: args.batch, load_before: load, load_after: loadNow(), ...m });
    progress({ backend, method, ms_per_step: spread(m.times_s), error: m.error });
  };

  // PyTorch and tfjs-node first, in child processes (so neither shares a process with Chromium's driver).
  for (const method of args.methods) {
    for (const threads of args.torch ? args.torchThreads : []) {
      // A busy machine can slow PyTorch's OpenMP pool far more than its work: every thread count asked for is timed.
      const load = loadNow();
      const script = path.join(REPO, 'bench', 'torch', 'step.py');
      const argv = [script, '--model', 'resnet20', '--method', method, '--batch', String(args.batch)];
      argv.push('--steps', String(args.steps), '--warmup', String(args.warmup), '--threads', String(threads));
      const runtime = `PyTorch CPU, ${threads} thread${threads === 1 ? '' : 's'}`;
      record(`pytorch-${threads}t`, runtime, method, fromChild(runJson(python(), argv, 3600), args.warmup), load);
    }
    if (args.node) {
      const load = loadNow();
      const task: WorkerTask = {
        model: 'resnet20',
        method,
        batch: args.batch,
        backend: 'tensorflow',
        steps: args.steps,
        warmup: args.warmup,
        profile: false,
      };
      record(
        'tfjs-node',
        'Node, tensorflow backend',
        method,
        fromChild(runJson(process.execPath, [self, '--worker', JSON.stringify(task)], 3600), args.warmup),
        load,
      );
    }
  }

  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-browser-step-'));
  await bundle(path.join(REPO, 'bench/pages/browser-step.ts'), out);
  fs.copyFileSync(path.join(REPO, 'bench/pages/browser-step.html'), path.join(out, 'index.html'));
  const server = await serveStatic({
    '/': out,
    '/models/': path.join(SHARED_DIR, 'models'),
    '/wasm/': path.join(REPO, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'),
  });
  const browser = await launchChromium();
  let browserInfo: Record<string, unknown>;
  const unavailable: Record<string, string> = {};
  try {
    const probe = await browser.newPage();
    await probe.goto(`${server.url}/`);
    await probe.waitForFunction(() => 'natinvBench' in window);
    browserInfo = { chromium: browser.version(), ...(await probe.evaluate(() => window.natinvBench.environment())) };
    await probe.close();
    if (browserInfo.webgpuAdapter == null)
      unavailable.webgpu = 'Chromium offers no WebGPU adapter here (navigator.gpu.requestAdapter() gave null)';
    if (browserInfo.webgl2 !== true) unavailable.webgl = 'no WebGL 2 context in this Chromium';
    for (const backend of args.backends) {
      for (const method of args.methods) {
        if (unavailable[backend] != null) {
          record(backend, 'Chromium', method, { times_s: [], warmup: 0, error: `unavailable: ${unavailable[backend]}` }, loadNow());
          continue;
        }
        const cpu = backend === 'cpu';
        const [warmup, steps] = cpu ? [1, args.cpuSteps] : [args.warmup, args.steps];
        const load = loadNow();
        record(
          backend,
          'Chromium',
          method,
          await timeInPage(browser, `${server.url}/`, backend, method, args.batch, warmup, steps, args.budgetS),
          load,
        );
      }
    }
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(out, { recursive: true, force: true });
  }

  // Ratios of the means: to PyTorch (its faster thread count) and to tfjs-node of the same method, measured in this run.
  const meanMs = (m: Measured | undefined) => (m == null || m.times_s.length === 0 ? undefined : spread(m.times_s)!.mean);
  const pytorchBaseline: Record<string, { backend: string; mean_ms: number } | null> = {};
  for (const method of args.methods) {
    const candidates = [...measured.entries()]
      .filter(([key, m]) => key.startsWith('pytorch-') && key.endsWith(`:${method}`) && meanMs(m) != null)
      .map(([key, m]) => ({ backend: key.split(':')[0], mean_ms: meanMs(m)! }))
      .sort((a, b) => a.mean_ms - b.mean_ms);
    pytorchBaseline[method] = candidates[0] ?? null;
  }
  const report = rows.map((row) => {
    const method = row.method as SynthesisMethod;
    const ours = meanMs(measured.get(`${String(row.backend)}:${method}`));
    const torch = pytorchBaseline[method]?.mean_ms;
    const node = meanMs(measured.get(`tfjs-node:${method}`));
    const ratio = (theirs: number | undefined) => (ours != null && theirs != null ? Number((ours / theirs).toPrecision(3)) : null);
    const { times_s, ...rest } = row as Record<string, unknown> & { times_s: number[] };
    return {
      ...rest,
      timed_steps: times_s.length,
      ms_per_step: spread(times_s),
      ratio_to_pytorch: ratio(torch),
      ratio_to_tfjs_node: ratio(node),
      times_ms: times_s.map((t) => Number((t * 1000).toPrecision(4))),
    };
  });

  const chart = path.resolve(REPO, args.chart);
  fs.mkdirSync(path.dirname(chart), { recursive: true });
  fs.writeFileSync(chart, chartPng(report, args));

  const result = {
    benchmark: 'natinv DI / NI synthesis step in Chromium on each browser backend vs tfjs-node and PyTorch',
    started: startedAt,
    finished: new Date().toISOString(),
    command: `node ${path.relative(REPO, self)} ${process.argv.slice(2).join(' ')}`.trim(),
    commit,
    machine: { ...machine(), shared: 'other work may run beside this bench: compare ratios within one run' },
    load_avg_1_5_15: { before: loadBefore, after: loadNow() },
    browser: browserInfo,
    unavailable,
    pytorch_baseline: pytorchBaseline,
    settings: {
      teacher: 'ResNet-20 (CIFAR-10)',
      batch: args.batch,
      steps: args.steps,
      warmup: args.warmup,
      cpu_steps: args.cpuSteps,
      cpu_warmup: 1,
      budget_s: args.budgetS,
    },
    chart: path.relative(REPO, chart),
    rows: report,
  };
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
}

/** log10(ms) of every timed step, one panel per method, one line per backend. */
function chartPng(rows: ReadonlyArray<Record<string, unknown>>, args: Args): Uint8Array {
  const backends = [...new Set(rows.map((r) => String(r.backend)))];
  const panels = args.methods.map((method) => ({
    title: `${method.toUpperCase()} step, ResNet-20, batch ${args.batch}: log10(ms)`,
    xLabel: 'timed step',
    fitY: true,
    series: rows
      .filter((r) => r.method === method && (r.times_ms as number[]).length > 0)
      .map((r): ChartSeries => ({
        name: `${String(r.backend)} (${String(r.runtime)})`,
        color: CHART_PALETTE[backends.indexOf(String(r.backend)) % CHART_PALETTE.length],
        points: (r.times_ms as number[]).map((ms, i) => [i + 1, Math.log10(ms)] as const),
      })),
  }));
  return panelsChartPng(panels, { zlib: nodeZlib, panelWidth: 520, panelHeight: 340 });
}

benchMain((argv) => orchestrate(parseArgs(argv)));
