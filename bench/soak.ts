/**
 * Soak: one long synthesis run, as the CLI makes it (synthesizeToFolder: PNGs, grids, batch
 * files, manifest), with the process's resident memory and tfjs's tensor count sampled at a fixed
 * interval. A leak of tensors or host memory per step or per batch shows as a slope; flat lines
 * are the result wanted. Teacher: the bundled CIFAR-10 ResNet-20; backend tensorflow unless
 * NATINV_BACKEND says otherwise.
 *
 *   npm run bench:soak -- [--minutes 30] [--sample-seconds 60] [--method ni|di] [--batch-size 16]
 *     [--steps 50] [--work build-tsc/soak] [--chart docs/images/reliability-soak.png]
 *
 * Prints one JSON object (also written to <work>/soak.json): the machine, the settings, every
 * sample (minute, rss and heap MB, tensors, tensor MB, batches written) and a summary (first and
 * last values after the warm-up minute, the least-squares slope of RSS per minute, the tensor
 * count's range at batch boundaries). The chart shows RSS and tensors against minutes.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { synthesizeToFolder } from '../src/dataset/run';
import { loadBundledTeacher } from '../src/models/zoo-files';
import { BackendName, backendFromEnv, BACKEND_ENV, useBackend } from '../src/runtime/backend';
import { deepInversion, naturalInversion } from '../src/synthesis/methods';
import { CHART_PALETTE, panelsChartPng } from '../src/io/chart';
import { nodeZlib } from '../src/io/node-zlib';
import { machine, positive, round, writeJsonAtomic } from './common';

interface Args {
  minutes: number;
  sampleSeconds: number;
  method: 'ni' | 'di';
  batchSize: number;
  steps: number;
  work: string;
  chart: string;
}

interface Sample {
  minute: number;
  rssMb: number;
  heapUsedMb: number;
  tensors: number;
  tensorMb: number;
  batches: number;
  loadAverage1: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    minutes: 30,
    sampleSeconds: 60,
    method: 'ni',
    batchSize: 16,
    steps: 50,
    work: 'build-tsc/soak',
    chart: 'docs/images/reliability-soak.png',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value.`);
    if (flag === '--minutes') args.minutes = positive(flag, value);
    else if (flag === '--sample-seconds') args.sampleSeconds = positive(flag, value);
    else if (flag === '--batch-size') args.batchSize = positive(flag, value);
    else if (flag === '--steps') args.steps = positive(flag, value);
    else if (flag === '--work') args.work = value;
    else if (flag === '--chart') args.chart = value;
    else if (flag === '--method') {
      if (value !== 'ni' && value !== 'di') throw new Error(`--method is ni or di, got ${value}.`);
      args.method = value;
    } else throw new Error(`unknown flag ${flag}; see the header of bench/soak.ts.`);
  }
  return args;
}

const MB = 1024 * 1024;

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = path.resolve(__dirname, '../..');
  const backendName: BackendName = process.env[BACKEND_ENV] === undefined ? 'tensorflow' : backendFromEnv();
  const backend = await useBackend(backendName);
  const teacher = await loadBundledTeacher('cifar10-resnet20');
  const work = path.resolve(root, args.work);
  const folder = path.join(work, 'dataset');
  fs.rmSync(folder, { recursive: true, force: true });

  const started = Date.now();
  let batches = 0;
  // Tensor counts right after each batch is committed: a leak per batch shows here without noise.
  const atBatch: number[] = [];
  const samples: Sample[] = [];
  const sample = (): void => {
    const memory = process.memoryUsage();
    const tensors = tf.memory();
    const point: Sample = {
      minute: round((Date.now() - started) / 60_000, 2),
      rssMb: round(memory.rss / MB, 1),
      heapUsedMb: round(memory.heapUsed / MB, 1),
      tensors: tensors.numTensors,
      tensorMb: round(tensors.numBytes / MB, 2),
      batches,
      loadAverage1: round(os.loadavg()[0], 2),
    };
    samples.push(point);
    process.stderr.write(`soak ${JSON.stringify(point)}\n`);
  };
  sample();
  // The synthesis loop yields to the event loop every step, so this timer fires on time.
  const timer = setInterval(sample, args.sampleSeconds * 1000);
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), args.minutes * 60_000);
  const trainerOptions = { batchSize: args.batchSize, steps: args.steps, seed: 0 };
  const summary = await synthesizeToFolder({
    folder,
    batches: 1_000_000,
    configuration: { bench: 'soak', method: args.method, ...trainerOptions },
    signal: controller.signal,
    trainer: (indices, signal) => {
      const options = { ...trainerOptions, batchIndices: indices, signal };
      return args.method === 'ni' ? naturalInversion(teacher, options) : deepInversion(teacher, options);
    },
    onBatch: () => {
      batches += 1;
      atBatch.push(tf.memory().numTensors);
    },
  });
  clearInterval(timer);
  clearTimeout(deadline);
  sample();

  const settled = samples.filter((s) => s.minute >= 1);
  const first = settled[0] ?? samples[0];
  const last = samples[samples.length - 1];
  const result = {
    bench: 'soak',
    machine: machine(backend),
    settings: { ...args, teacher: teacher.name, backend },
    samples,
    tensorsAfterEachBatch: atBatch,
    summary: {
      minutes: last.minute,
      batchesWritten: summary.written.length,
      rssMb: { afterFirstMinute: first.rssMb, last: last.rssMb, max: Math.max(...settled.map((s) => s.rssMb)) },
      rssSlopeMbPerMinute: round(slope(settled.map((s) => [s.minute, s.rssMb])), 3),
      heapUsedSlopeMbPerMinute: round(slope(settled.map((s) => [s.minute, s.heapUsedMb])), 3),
      tensorsAfterEachBatch: atBatch.length === 0 ? null : { min: Math.min(...atBatch), max: Math.max(...atBatch) },
      tensorsSampled: { min: Math.min(...samples.map((s) => s.tensors)), max: Math.max(...samples.map((s) => s.tensors)) },
    },
  };
  await writeJsonAtomic(path.join(work, 'soak.json'), result);
  const chart = path.resolve(root, args.chart);
  fs.mkdirSync(path.dirname(chart), { recursive: true });
  fs.writeFileSync(
    chart,
    panelsChartPng(
      [
        {
          title: `RSS (MB), ${args.method.toUpperCase()} on ${backend}`,
          xLabel: 'minutes',
          fitY: true,
          series: [{ name: 'resident memory (MB)', color: CHART_PALETTE[0], points: samples.map((s) => [s.minute, s.rssMb]) }],
        },
        {
          title: 'tfjs tensors alive',
          xLabel: 'minutes',
          fitY: true,
          series: [{ name: 'tensors', color: CHART_PALETTE[1], points: samples.map((s) => [s.minute, s.tensors]) }],
        },
      ],
      { zlib: nodeZlib },
    ),
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  teacher.model.dispose();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/soak: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
