/**
 * `natinv evaluate`: top-1 accuracy of a network on a CIFAR binary file, or on a synthesized
 * dataset folder against the targets the images were synthesized for.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { readDataset } from '../../dataset/reader';
import { readCifarFile } from '../../io/files';
import type { Teacher } from '../../models/teacher';
import { normalize } from '../../synthesis/batch';
import { CommandSpec, formatRows, Options, ParsedArgs, UsageError } from '../args';
import { BACKEND_OPTION, chooseBackend } from '../backend';
import { CliIo, EXIT, plural, Reporter } from '../io';
import { classNamesFor, requireFile, resolveTeacher, teacherOptions } from '../teacher';
import { topOneAccuracy } from '../../metrics/accuracy';

export const EVALUATE: CommandSpec = {
  name: 'evaluate',
  summary: 'Top-1 accuracy of a network on a CIFAR binary file, or on a synthesized dataset folder against its targets.',
  description: [
    'A CIFAR file holds records of label byte(s) + 3072 pixel bytes (planes R, G, B), plain or gzip; images are ' +
      "normalized with the teacher's mean/std. A dataset folder (from natinv synthesize) is read whole; its accuracy " +
      'says how often the network classifies the synthesized images, as their PNGs hold them (clipped to [0, 1]), ' +
      'as the classes they were made for.',
  ],
  options: [
    ...teacherOptions().filter((o) => o.name !== 'taps'),
    { name: 'data', kind: 'string', value: 'PATH', help: 'A CIFAR binary file (.bin or .bin.gz) or a natinv dataset folder (required).' },
    {
      name: 'layout',
      kind: 'string',
      value: 'NAME',
      choices: ['cifar10', 'cifar100'],
      help: 'Record layout of a CIFAR file: cifar10 (1 label byte) or cifar100 (coarse + fine label bytes).',
      default: 'cifar10',
    },
    {
      name: 'labels',
      kind: 'string',
      value: 'WHICH',
      choices: ['fine', 'coarse'],
      help: 'Which CIFAR-100 label to score against (cifar100 layout only).',
      default: 'fine',
    },
    { name: 'limit', kind: 'integer', value: 'N', min: 1, help: 'Score only the first N images.', default: 'all' },
    { name: 'batch-size', kind: 'integer', value: 'N', min: 1, help: 'Images per forward pass.', default: '250' },
    {
      name: 'class-names',
      kind: 'names',
      value: 'LIST',
      help: 'Class names for the per-class table: cifar10, cifar100, none or a comma-separated list.',
      default: 'the CIFAR-10/100 names for 10/100-class zoo teachers, else class indices',
    },
    BACKEND_OPTION,
    { name: 'json', kind: 'flag', help: 'Print one JSON object with the accuracy (and per-class counts) on stdout.' },
  ],
  examples: [
    'natinv evaluate --data test_batch.bin.gz',
    'natinv evaluate --arch resnet56 --weights cifar10_resnet56.safetensors --data test_batch.bin.gz --limit 1000',
    'natinv evaluate --data natinv-out',
  ],
};

interface LabelledImages {
  images01: Float32Array;
  labels: Int32Array;
  count: number;
  shape: [number, number, number];
  what: string;
}

async function readData(file: string, options: Options, command: string): Promise<LabelledImages> {
  if (fs.statSync(file).isDirectory()) {
    for (const flag of ['layout', 'labels']) {
      if (options.has(flag)) throw new UsageError(`${command}: --${flag} applies to CIFAR files, not to a dataset folder.`);
    }
    const dataset = await readDataset(file);
    if (dataset.count === 0) throw new Error(`dataset ${file} holds no finished batch yet; run natinv synthesize on it first.`);
    const limit = Math.min(options.number('limit') ?? dataset.count, dataset.count);
    const [, h, w, c] = dataset.shape;
    return {
      images01: dataset.images01.subarray(0, limit * h * w * c),
      labels: dataset.targets.subarray(0, limit),
      count: limit,
      shape: [h, w, c],
      what: `synthesized dataset ${file} (targets as labels)`,
    };
  }
  const layout = (options.string('layout') ?? 'cifar10') as 'cifar10' | 'cifar100';
  if (layout === 'cifar10' && options.has('labels')) throw new UsageError(`${command}: --labels applies to --layout cifar100.`);
  const set = await readCifarFile(file, {
    layout,
    labels: (options.string('labels') ?? 'fine') as 'fine' | 'coarse',
    limit: options.number('limit'),
  });
  return { images01: set.images, labels: set.labels, count: set.count, shape: [32, 32, 3], what: `${layout} file ${file}` };
}

/** Top-1 predictions of `teacher` on [0, 1] images, in batches. */
function predict(teacher: Teacher, data: LabelledImages, batchSize: number): Int32Array {
  const [h, w, c] = data.shape;
  const size = h * w * c;
  const predictions = new Int32Array(data.count);
  for (let start = 0; start < data.count; start += batchSize) {
    const end = Math.min(data.count, start + batchSize);
    const top = tf.tidy(() => {
      const images = tf.tensor4d(data.images01.subarray(start * size, end * size), [end - start, h, w, c]);
      const logits = teacher.model.predict(normalize(images, teacher.normalization)) as tf.Tensor;
      return tf.argMax(logits, -1);
    });
    predictions.set(top.dataSync(), start);
    top.dispose();
  }
  return predictions;
}

/** Runs `natinv evaluate`; returns the exit code. */
export async function evaluateCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const cwd = io.cwd ?? process.cwd();
  const command = 'natinv evaluate';
  const dataText = options.string('data');
  if (dataText === undefined) throw new UsageError(`${command}: --data PATH is required (a CIFAR binary file or a natinv dataset folder).`);
  const file = path.resolve(cwd, dataText);
  requireFile(file, '--data', command);
  await chooseBackend(options.string('backend'), io.env ?? process.env, reporter, 'synthesis');
  const resolved = await resolveTeacher(options, { command, cwd });
  const { teacher } = resolved;
  try {
    const data = await readData(file, options, command);
    const [h, w, c] = teacher.inputShape;
    if (data.shape[0] !== h || data.shape[1] !== w || data.shape[2] !== c) {
      throw new UsageError(`${command}: ${teacher.name} takes ${h}x${w}x${c} images but ${data.what} holds ${data.shape.join('x')}.`);
    }
    const maxLabel = data.labels.reduce((a, b) => Math.max(a, b), 0);
    if (maxLabel >= teacher.numClasses) {
      throw new UsageError(
        `${command}: ${data.what} has label ${maxLabel} but ${teacher.name} has ${teacher.numClasses} classes; check --layout/--labels or the teacher.`,
      );
    }
    const started = Date.now();
    const predictions = predict(teacher, data, options.number('batch-size') ?? 250);
    const seconds = (Date.now() - started) / 1000;
    const classNames = classNamesFor(resolved, options.names('class-names'), command);
    const { accuracy, correct, perClass } = topOneAccuracy(predictions, data.labels, teacher.numClasses, command);
    reporter.event('accuracy', {
      teacher: teacher.name,
      data: file,
      accuracy,
      correct,
      count: data.count,
      seconds,
      perClass: perClass.map((p, k) => ({ class: k, name: classNames?.[k] ?? String(k), ...p })),
    });
    reporter.result(
      `top-1 accuracy ${(100 * accuracy).toFixed(2)}% (${correct} of ${plural(data.count, 'image')}): ${teacher.name} on ${data.what}`,
    );
    if (!reporter.json && teacher.numClasses <= 20) {
      const rows = perClass
        .map(
          (p, k) =>
            [
              classNames?.[k] ?? String(k),
              p.total === 0 ? '-' : `${((100 * p.correct) / p.total).toFixed(1)}% (${p.correct}/${p.total})`,
            ] as const,
        )
        .filter((_, k) => perClass[k].total > 0);
      reporter.result(['per class:', ...formatRows(rows)].join('\n'));
    }
    return EXIT.ok;
  } finally {
    teacher.model.dispose();
  }
}
