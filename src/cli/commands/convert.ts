/**
 * `natinv convert`: PyTorch weights (safetensors + a zoo architecture) <-> tfjs model folders.
 * Folders carry natinv's metadata (normalization, feature taps, class names) so they load as
 * teachers without further flags.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensorsFile } from '../../io/files';
import { ZOO, ZOO_ARCHITECTURES } from '../../models/architectures';
import { exportPytorchWeights } from '../../models/pytorch-weights';
import { CommandSpec, Options, ParsedArgs, UsageError } from '../args';
import { chooseBackend, MODEL_BACKEND_OPTION } from '../backend';
import { CliIo, EXIT, Reporter } from '../io';
import { MODEL_JSON, saveTeacherFolder, WEIGHTS_BIN } from '../../models/model-folder';
import { classNamesFor, requireFile, resolveTeacher, teacherOptions } from '../teacher';

export const CONVERT: CommandSpec = {
  name: 'convert',
  summary: 'Convert PyTorch weights (.safetensors + --arch) to a tfjs model folder, or a tfjs model folder to PyTorch weights.',
  description: [
    `A .safetensors input (a PyTorch state_dict of a zoo architecture) becomes a folder with ${MODEL_JSON} and ` +
      `${WEIGHTS_BIN}, loadable with tf.loadLayersModel and by every natinv command; natinv's metadata ` +
      '(normalization, feature taps, class names) goes into model.json. A tfjs model folder (or its model.json) becomes ' +
      'a .safetensors state_dict with PyTorch names and layouts, for load_state_dict.',
    'Works on every backend: the files are written without tfjs-node.',
  ],
  positionals: [{ name: 'input', help: 'A .safetensors file (with --arch), or a tfjs model folder or model.json.', required: true }],
  options: [
    {
      name: 'out',
      kind: 'string',
      value: 'PATH',
      help: 'Output: a folder for a tfjs model, a .safetensors file for PyTorch weights (required).',
    },
    ...teacherOptions(undefined).filter((o) => ['arch', 'mean', 'std', 'classes', 'taps'].includes(o.name)),
    {
      name: 'class-names',
      kind: 'names',
      value: 'LIST',
      help: 'Class names stored in the tfjs folder: cifar10, cifar100, none or a comma-separated list.',
      default: 'the CIFAR-10/100 names for 10/100-class zoo models, else none',
    },
    {
      name: 'num-batches-tracked',
      kind: 'flag',
      help: "Add each BatchNorm's num_batches_tracked (0) to the .safetensors, for load_state_dict(strict=True) on models that have it.",
    },
    MODEL_BACKEND_OPTION,
    { name: 'json', kind: 'flag', help: 'Print one JSON object with the written files on stdout.' },
  ],
  examples: [
    'natinv convert cifar10_resnet56.safetensors --arch resnet56 --out resnet56-tfjs',
    'natinv convert resnet56-tfjs --out resnet56-roundtrip.safetensors',
  ],
};

/** Runs `natinv convert`; returns the exit code. */
export async function convertCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const cwd = io.cwd ?? process.cwd();
  const command = 'natinv convert';
  const input = args.positionals[0];
  const outText = options.string('out');
  if (outText === undefined)
    throw new UsageError(`${command}: --out PATH is required (a folder for a tfjs model, a .safetensors file for PyTorch weights).`);
  const out = path.resolve(cwd, outText);
  const inputPath = path.resolve(cwd, input);
  requireFile(inputPath, 'the input', command);
  const toTfjs = input.toLowerCase().endsWith('.safetensors');
  if (toTfjs) {
    if (!options.has('arch')) {
      throw new UsageError(
        `${command}: ${input} holds PyTorch weights; say which architecture with --arch (${ZOO_ARCHITECTURES.join(', ')}).`,
      );
    }
    if (options.has('num-batches-tracked'))
      throw new UsageError(`${command}: --num-batches-tracked applies when writing .safetensors weights.`);
    if (fs.existsSync(out) && !fs.statSync(out).isDirectory())
      throw new UsageError(`${command}: --out ${outText} is a file; a tfjs model is written to a folder.`);
  } else {
    for (const flag of ['arch', 'classes', 'mean', 'std', 'taps', 'class-names']) {
      if (options.has(flag))
        throw new UsageError(`${command}: --${flag} applies when converting .safetensors weights; a tfjs model folder carries its own.`);
    }
    if (!out.toLowerCase().endsWith('.safetensors'))
      throw new UsageError(`${command}: --out must name a .safetensors file when converting a tfjs model to PyTorch weights.`);
  }
  await chooseBackend(options.string('backend'), io.env ?? process.env, reporter, 'models');
  const resolved = await resolveTeacher(options, { command, positional: input, cwd });
  const { teacher } = resolved;
  try {
    if (toTfjs) {
      const classNames = classNamesFor(resolved, options.names('class-names'), command);
      const arch = resolved.arch;
      const featureTaps = teacher.featureTaps.length > 0 ? teacher.featureTaps : arch !== undefined ? ZOO[arch].featureTaps : [];
      const files = await saveTeacherFolder({ ...teacher, featureTaps }, out, { arch, classNames });
      reporter.event('converted', { from: inputPath, to: 'tfjs', files: [files.modelJson, files.weights] });
      reporter.result(
        `wrote ${files.modelJson} and ${files.weights} (${teacher.name}, ${teacher.model.countParams().toLocaleString('en-US')} parameters)`,
      );
    } else {
      const tensors = exportPytorchWeights(teacher.model, { numBatchesTracked: options.flag('num-batches-tracked') });
      await writeSafetensorsFile(out, tensors, { source: `natinv convert ${path.basename(input)}`, name: teacher.name });
      reporter.event('converted', { from: inputPath, to: 'safetensors', files: [out], tensors: Object.keys(tensors).length });
      reporter.result(`wrote ${out} (${Object.keys(tensors).length} tensors with PyTorch names and layouts)`);
    }
    return EXIT.ok;
  } finally {
    teacher.model.dispose();
  }
}
