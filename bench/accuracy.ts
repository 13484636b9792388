/**
 * Top-1 accuracy of the pre-trained CIFAR-10 teachers (ResNet-20/32/44/56, ../shared/models) on
 * the lossless first 1,017 test images and on the full JPEG-derived test set; prints JSON.
 *
 * Neither ts-node nor tsx is a dependency; compile with the esbuild that tsup brings, then run:
 *   npx esbuild bench/accuracy.ts --bundle --platform=node --packages=external --outfile=build-tsc/bench/accuracy.js
 *   NATINV_BACKEND=tensorflow node build-tsc/bench/accuracy.js [--teachers resnet20,resnet56] [--batch-size 500]
 * (`NATINV_BACKEND=tensorflow node -r ts-node/register bench/accuracy.ts` works too where ts-node is installed.)
 * NATINV_SHARED_DIR overrides the shared folder (default: ../shared beside the package).
 */
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { readCifarFile } from '../src/io/files';
import type { CifarSet } from '../src/io/cifar';
import { findPackageRoot } from '../src/models/assets';
import { loadTeacher } from '../src/models/zoo-files';
import type { Teacher } from '../src/models/teacher';
import { useBackend } from '../src/runtime/backend';

const TEACHERS = ['resnet20', 'resnet32', 'resnet44', 'resnet56'] as const;
type TeacherArch = (typeof TEACHERS)[number];

const DATASETS = [
  { name: 'cifar10-test-first1017-lossless', file: 'data/cifar10/test_batch_first1017.bin.gz' },
  { name: 'cifar10-test-jpeg-q75', file: 'data/cifar10-jpeg/test_batch.bin.gz' },
];

interface Args {
  teachers: TeacherArch[];
  batchSize: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { teachers: [...TEACHERS], batchSize: 500 };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--teachers' && value !== undefined) {
      const list = value.split(',');
      const unknown = list.filter((t) => !(TEACHERS as readonly string[]).includes(t));
      if (unknown.length > 0) throw new Error(`--teachers: unknown ${unknown.join(', ')}; use some of ${TEACHERS.join(', ')}.`);
      args.teachers = list as TeacherArch[];
      i++;
    } else if (argv[i] === '--batch-size' && value !== undefined) {
      args.batchSize = Number(value);
      if (!Number.isInteger(args.batchSize) || args.batchSize < 1)
        throw new Error(`--batch-size must be a positive integer, got ${value}.`);
      i++;
    } else {
      throw new Error(`unknown argument ${argv[i]}; usage: [--teachers resnet20,resnet32] [--batch-size 500]`);
    }
  }
  return args;
}

/** Correct top-1 predictions of `teacher` on `set`, normalizing batch by batch on the host. */
function countCorrect(teacher: Teacher, set: CifarSet, batchSize: number): number {
  const { mean, std } = teacher.normalization;
  const pixels = 32 * 32 * 3;
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const n = Math.min(batchSize, set.count - start);
    const x = new Float32Array(n * pixels);
    const offset = start * pixels;
    for (let i = 0; i < x.length; i++) x[i] = (set.images[offset + i] - mean[i % 3]) / std[i % 3];
    const predicted = tf.tidy(() => tf.argMax(teacher.model.predict(tf.tensor4d(x, [n, 32, 32, 3])) as tf.Tensor, 1));
    const labels = predicted.dataSync();
    predicted.dispose();
    for (let i = 0; i < n; i++) if (labels[i] === set.labels[start + i]) correct++;
  }
  return correct;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await useBackend();
  const shared = process.env.NATINV_SHARED_DIR ?? path.resolve(await findPackageRoot(), '../shared');
  const sets = await Promise.all(
    DATASETS.map(async (d) => ({ ...d, set: await readCifarFile(path.join(shared, d.file), { layout: 'cifar10' }) })),
  );
  const results = [];
  for (const arch of args.teachers) {
    const weights = path.join(shared, 'models', `cifar10_${arch}.safetensors`);
    const teacher = await loadTeacher({ arch, weights });
    for (const { name, set } of sets) {
      const started = process.hrtime.bigint();
      const correct = countCorrect(teacher, set, args.batchSize);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      results.push({
        teacher: teacher.name,
        dataset: name,
        correct,
        total: set.count,
        accuracy: Number(((100 * correct) / set.count).toFixed(2)),
        seconds: Number(seconds.toFixed(2)),
      });
    }
    teacher.model.dispose();
  }
  const environment = { backend, node: process.version, cpus: os.cpus().length, batchSize: args.batchSize };
  console.log(JSON.stringify({ environment, normalization: 'ImageNet mean/std (the teachers were trained with it)', results }, null, 2));
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
