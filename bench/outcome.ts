/**
 * Outcome parity at a fixed budget: DeepInversion and NaturalInversion on the CIFAR-10 ResNet-20
 * teacher with the papers' CIFAR-10 settings (the trainers' defaults; only steps and batch size
 * changed), judged by an independent ResNet-56 verifier. Prints one JSON object.
 *
 * Per (method, seed), one batch: the teacher's top-1 accuracy on its own targets, the verifier's,
 * the Fréchet distance between the verifier's pooled last-stage features (global average pool of
 * 'layer3.8', 64 values, unbiased covariances) of the synthesized images and of the first 2,000
 * JPEG-derived CIFAR-10 test images, and seconds per step. Rows for N(0,1) noise and for real test
 * images (the same count as a batch) bracket the distance. The synthesized images are judged as
 * the papers' code judges them: the batch's unclipped `images` in the teacher's normalized space,
 * which both networks share; each row also judges `images01` (clipped to [0, 1], what the PNGs
 * hold) under `clipped`, with the fraction of values the clipping moved.
 *
 *   NATINV_BACKEND=tensorflow npm run bench:outcome -- [--steps 200] ...   (or, by hand:)
 *   npx esbuild bench/outcome.ts --bundle --platform=node --packages=external --outfile=build-tsc/bench/outcome.js
 *   NATINV_BACKEND=tensorflow node build-tsc/bench/outcome.js [--steps 200] [--batch-size 64] [--seeds 0,1,2]
 *     [--methods di,ni] [--real 2000] [--images docs/images] [--no-images]
 *
 * NATINV_SHARED_DIR overrides the shared folder (default ../shared beside the package).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { CIFAR10_CLASSES } from '../src/io/cifar';
import { imageGrid } from '../src/io/grid';
import { encodePng } from '../src/io/png-node';
import { embedFeatures, featureStatistics, synthesizedImages } from '../src/metrics';
import { findPackageRoot } from '../src/models/assets';
import { loadBundledTeacher, loadTeacher } from '../src/models/zoo-files';
import { useBackend } from '../src/runtime/backend';
import type { SynthesizedBatch } from '../src/synthesis/batch';
import { deepInversion, naturalInversion } from '../src/synthesis/methods';
import { judgeImages, normalizedSlice, positive, readCifar10, round, sharedDir } from './common';

const METHODS = { di: 'deepInversion', ni: 'naturalInversion' } as const;
type MethodKey = keyof typeof METHODS;

interface Args {
  steps: number;
  batchSize: number;
  seeds: number[];
  methods: MethodKey[];
  real: number;
  images: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { steps: 200, batchSize: 64, seeds: [0, 1, 2], methods: ['di', 'ni'], real: 2000, images: 'docs/images' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--no-images') {
      args.images = undefined;
      continue;
    }
    if (value === undefined) throw new Error(`${flag} needs a value.`);
    i++;
    if (flag === '--steps') args.steps = positive(flag, value);
    else if (flag === '--batch-size') args.batchSize = positive(flag, value);
    else if (flag === '--real') args.real = positive(flag, value);
    else if (flag === '--images') args.images = value;
    else if (flag === '--seeds') {
      args.seeds = value.split(',').map((s) => Number(s));
      if (args.seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`--seeds: non-negative integers, got ${value}.`);
    } else if (flag === '--methods') {
      const list = value.split(',');
      const unknown = list.filter((m) => !(m in METHODS));
      if (unknown.length > 0) throw new Error(`--methods: unknown ${unknown.join(', ')}; use di, ni.`);
      args.methods = list as MethodKey[];
    } else {
      throw new Error(
        `unknown argument ${flag}; usage: [--steps 200] [--batch-size 64] [--seeds 0,1,2] [--methods di,ni] [--real 2000] [--images docs/images | --no-images]`,
      );
    }
  }
  return args;
}

async function writeGrid(batch: SynthesizedBatch, file: string): Promise<void> {
  const [count, height, width] = batch.shape;
  const grid = imageGrid(batch.images01, count, height, width, {
    columns: 8,
    scale: 2,
    labels: Array.from(batch.targets, (t) => CIFAR10_CLASSES[t]),
  });
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await fs.promises.writeFile(file, encodePng(grid.pixels, grid.width, grid.height, 3));
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const backend = await useBackend();
  const root = await findPackageRoot();
  const shared = sharedDir(root);
  const teacher = await loadBundledTeacher('cifar10-resnet20');
  const verifier = await loadTeacher({ arch: 'resnet56', weights: path.join(shared, 'models', 'cifar10_resnet56.safetensors') });
  if (JSON.stringify(verifier.normalization) !== JSON.stringify(teacher.normalization)) {
    throw new Error('the verifier and the teacher use different normalizations; this benchmark feeds both the same normalized images.');
  }
  const layer = verifier.featureTaps[0];
  const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

  // Reference statistics: the first `real` test images, and further slices of batch size as a floor.
  const realFile = path.join(shared, 'data', 'cifar10-jpeg', 'test_batch.bin.gz');
  const floorSlices = 3;
  const set = await readCifar10(realFile, args.real + floorSlices * args.batchSize);
  const slice = (start: number, count: number): tf.Tensor4D => normalizedSlice(set, teacher.normalization, start, count);
  const realImages = slice(0, args.real);
  const realFeatures = await embedFeatures(verifier, realImages, { layer });
  realImages.dispose();
  const reference = featureStatistics(realFeatures);
  log(`reference statistics of ${args.real} test images at ${layer} (${realFeatures.dimension} values)`);

  const rows: Array<Record<string, unknown>> = [];
  for (let s = 0; s < floorSlices; s++) {
    const start = args.real + s * args.batchSize;
    const images = slice(start, args.batchSize);
    const labels = set.labels.subarray(start, start + args.batchSize);
    rows.push({
      method: 'real test images',
      seed: null,
      images: `${start}..${start + args.batchSize - 1}`,
      ...(await judgeImages(teacher, verifier, images, labels, reference)),
    });
    images.dispose();
  }
  for (const seed of args.seeds) {
    // N(0, 1) in the normalized space: DeepInversion's starting point. Targets cycle the classes.
    const images = tf.randomNormal([args.batchSize, 32, 32, 3], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
    const targets = Int32Array.from({ length: args.batchSize }, (_, i) => i % teacher.numClasses);
    rows.push({ method: 'gaussian noise N(0,1)', seed, ...(await judgeImages(teacher, verifier, images, targets, reference)) });
    images.dispose();
  }
  log('noise and real rows done');

  for (const key of args.methods) {
    const trainer = key === 'di' ? deepInversion : naturalInversion;
    for (const seed of args.seeds) {
      const stepTimes: number[] = [];
      let last = Date.now();
      const options = {
        batches: 1,
        batchSize: args.batchSize,
        steps: args.steps,
        seed,
        onStep: (report: { step: number }) => {
          const now = Date.now();
          stepTimes.push(now - last);
          last = now;
          if (report.step % 50 === 0) log(`${METHODS[key]} seed ${seed}: step ${report.step}/${args.steps}`);
        },
      };
      const runStarted = Date.now();
      last = runStarted;
      let batch: SynthesizedBatch | undefined;
      for await (const b of trainer(teacher, options)) batch = b;
      if (batch === undefined) throw new Error(`${METHODS[key]} yielded no batch.`);
      const seconds = (Date.now() - runStarted) / 1000;
      const { images, labels } = synthesizedImages([batch], teacher.normalization);
      const judged = await judgeImages(teacher, verifier, images, labels, reference);
      images.dispose();
      const clipped = synthesizedImages([batch], teacher.normalization, { clipped: true });
      const judgedClipped = await judgeImages(teacher, verifier, clipped.images, labels, reference);
      clipped.images.dispose();
      const { mean: m, std: sd } = teacher.normalization;
      // Values the clipping moved (the mapping itself is float32 on the backend, hence the slack).
      let moved = 0;
      batch.images.forEach((v, i) => void (Math.abs(batch.images01[i] - (v * sd[i % 3] + m[i % 3])) > 1e-5 && moved++));
      let keptCorrect = 0;
      batch.predictions.forEach((p, i) => void (p === batch?.targets[i] && keptCorrect++));
      const sorted = [...stepTimes].sort((a, b) => a - b);
      rows.push({
        method: METHODS[key],
        seed,
        ...judged,
        // The trainer's own judgement of the kept images: equal to teacherAccuracy above.
        teacherAccuracyAtKeptStep: round((100 * keptCorrect) / batch.targets.length, 2),
        secondsPerStep: round(seconds / args.steps, 3),
        medianStepSeconds: round(sorted[Math.floor(sorted.length / 2)] / 1000, 3),
        bestLoss: round(batch.loss),
        terms: Object.fromEntries(Object.entries(batch.terms).map(([k, v]) => [k, round(v, 5)])),
        clipped: { fractionOfValuesMoved: round(moved / batch.images.length, 4), ...judgedClipped },
      });
      log(`${METHODS[key]} seed ${seed}: ${JSON.stringify(rows[rows.length - 1])}`);
      if (seed === args.seeds[0] && args.images !== undefined) {
        await writeGrid(batch, path.resolve(root, args.images, `outcome-${METHODS[key].toLowerCase()}-seed${seed}.png`));
      }
    }
  }

  const summary = [...new Set(rows.map((r) => r.method as string))].map((method) => {
    const group = rows.filter((r) => r.method === method);
    const stat = (field: string): { mean: number; std: number } | undefined => {
      const values = group.map((r) => r[field]).filter((v): v is number => typeof v === 'number');
      return values.length === 0 ? undefined : { mean: round(mean(values), 3), std: round(std(values), 3) };
    };
    return {
      method,
      n: group.length,
      teacherAccuracy: stat('teacherAccuracy'),
      verifierAccuracy: stat('verifierAccuracy'),
      fd: stat('fd'),
      secondsPerStep: stat('secondsPerStep'),
    };
  });
  teacher.model.dispose();
  verifier.model.dispose();
  const configuration = {
    backend,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    teacher: `${teacher.name} (bundled)`,
    verifier: verifier.name,
    featureLayer: `${layer} (global average pool, ${realFeatures.dimension} values)`,
    reference: `first ${args.real} images of cifar10-jpeg/test_batch.bin.gz`,
    normalization: teacher.normalization,
    steps: args.steps,
    batchSize: args.batchSize,
    seeds: args.seeds,
    settings: "trainers' defaults (papers' CIFAR-10 settings); only steps and batchSize set",
    wallSeconds: round((Date.now() - started) / 1000, 1),
  };
  console.log(JSON.stringify({ configuration, summary, rows }, null, 2));
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 1;
});
