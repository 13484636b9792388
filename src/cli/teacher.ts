/**
 * Which network a command works on, from the command line: a bundled teacher by name, a tfjs
 * model folder, or a zoo architecture filled with PyTorch weights from safetensors.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CIFAR10_CLASSES, CIFAR100_FINE_CLASSES } from '../io/cifar';
import {
  assertZooArchitecture,
  buildZooModel,
  ZOO,
  ZOO_ARCHITECTURES,
  ZooArchitecture,
  zooArchitectureOrUndefined,
} from '../models/architectures';
import { BUNDLED_TEACHERS, BundledTeacherName } from '../models/zoo';
import { WeightsMismatchError } from '../models/pytorch-weights';
import { loadBundledTeacher, loadTeacher } from '../models/zoo-files';
import type { InputNormalization, Teacher } from '../models/teacher';
import { tapNetwork } from '../taps';
import { Options, OptionSpec, suggestion, UsageError } from './args';
import { loadTeacherFolder, modelJsonPath } from '../models/model-folder';

/** The bundled teacher every command defaults to. */
export const DEFAULT_TEACHER: BundledTeacherName = 'cifar10-resnet20';

const BUNDLED_NAMES = Object.keys(BUNDLED_TEACHERS);

/** Options naming the teacher (shared by synthesize, evaluate and inspect). */
export function teacherOptions(defaultTeacher: string | undefined = DEFAULT_TEACHER): OptionSpec[] {
  return [
    {
      name: 'teacher',
      kind: 'string',
      value: 'MODEL',
      help:
        `The network: a bundled teacher (${BUNDLED_NAMES.join(', ')}), a tfjs model folder or its model.json, or ` +
        'a PyTorch state_dict .safetensors file (with --arch).',
      default: defaultTeacher,
    },
    {
      name: 'arch',
      kind: 'string',
      value: 'ARCH',
      choices: ZOO_ARCHITECTURES,
      help: `Zoo architecture of --weights (or of a .safetensors --teacher): ${ZOO_ARCHITECTURES.join(', ')}.`,
    },
    {
      name: 'weights',
      kind: 'string',
      value: 'FILE',
      help: "PyTorch weights for --arch: a state_dict saved with safetensors' save_file.",
    },
    {
      name: 'mean',
      kind: 'numbers',
      value: 'a,b,c',
      help: 'Per-channel input mean the teacher was trained with (x_norm = (x - mean) / std, x in [0, 1]).',
      default: "the bundled teacher's or architecture's (ImageNet for resnet20..56, CIFAR for the others), or the model folder's metadata",
    },
    {
      name: 'std',
      kind: 'numbers',
      value: 'a,b,c',
      help: 'Per-channel input standard deviation, as --mean.',
      default: 'as --mean',
    },
    {
      name: 'classes',
      kind: 'integer',
      value: 'N',
      min: 1,
      help: 'Number of classes of --weights.',
      default: "the rows of the checkpoint's final Linear weight",
    },
    {
      name: 'taps',
      kind: 'names',
      value: 'a,b,c',
      help: "Teacher layers feeding NaturalInversion's Feature Transfer Pyramid, deepest first (natinv inspect lists " + 'candidates).',
      default: "the architecture's stage outputs (e.g. layer3.2,layer2.2,layer1.2 for resnet20)",
    },
  ];
}

/** A teacher with what the command line says about it. */
export interface ResolvedTeacher {
  readonly teacher: Teacher;
  /** How it was given, for notes: `bundled cifar10-resnet20`, `resnet20 weights w.safetensors`, ... */
  readonly description: string;
  /** Zoo architecture, when known. */
  readonly arch?: ZooArchitecture;
  /** Class names for file names and captions, when known. */
  readonly classNames?: readonly string[];
  /** False for a zoo architecture built without weights (inspect only). */
  readonly pretrained: boolean;
  /** True for a teacher that ships with natinv. */
  readonly bundled?: boolean;
}

/** How {@link resolveTeacher} may be used. */
export interface ResolveTeacherOptions {
  /** The command, for messages: `natinv synthesize`. */
  readonly command: string;
  /** A positional model argument, which takes the place of --teacher. */
  readonly positional?: string;
  /** Allow `--arch` without weights (a freshly initialised network, for inspect). Default false. */
  readonly allowUntrained?: boolean;
  /** Resolves relative paths. */
  readonly cwd: string;
}

/** Class names for a zoo teacher trained on CIFAR, guessed from its class count. */
function cifarClassNames(numClasses: number): readonly string[] | undefined {
  if (numClasses === 10) return CIFAR10_CLASSES;
  if (numClasses === 100) return CIFAR100_FINE_CLASSES;
  return undefined;
}

function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** Throws a usage error unless `file` exists; `what` names the option. */
export function requireFile(file: string, what: string, command: string): void {
  if (!exists(file)) throw new UsageError(`${command}: ${what} ${file} does not exist.`);
}

/** The teacher's normalization with --mean/--std applied; each must give one value per input channel. */
function applyNormalizationFlags(options: Options, base: InputNormalization, channels: number, command: string): InputNormalization {
  const mean = options.numbers('mean');
  const std = options.numbers('std');
  for (const [name, values] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (values !== undefined && values.length !== channels) {
      throw new UsageError(`${command}: --${name} needs ${channels} values (one per input channel), got ${values.length}.`);
    }
  }
  if (std !== undefined && std.some((s) => s <= 0))
    throw new UsageError(`${command}: every --std value must be positive, got ${std.join(',')}.`);
  return { mean: mean ?? base.mean, std: std ?? base.std };
}

function checkTaps(model: tfl.LayersModel, taps: readonly string[], command: string): void {
  const network = tapNetwork(model);
  for (const tap of taps) {
    if (!network.layerNames.includes(tap)) {
      throw new UsageError(
        `${command}: --taps: the model has no layer "${tap}"${suggestion(tap, network.layerNames)}; ` + `natinv inspect lists its layers.`,
      );
    }
  }
}

function withOverrides(resolved: ResolvedTeacher, options: Options, command: string): ResolvedTeacher {
  const { teacher } = resolved;
  const channels = teacher.inputShape[2];
  const normalization = applyNormalizationFlags(options, teacher.normalization, channels, command);
  const taps = options.names('taps');
  if (taps !== undefined) checkTaps(teacher.model, taps, command);
  return { ...resolved, teacher: { ...teacher, normalization, featureTaps: taps ?? teacher.featureTaps } };
}

async function fromSafetensors(arch: ZooArchitecture, weights: string, options: Options): Promise<ResolvedTeacher> {
  const teacher = await loadTeacher({ arch, weights, numClasses: options.number('classes') }).catch((cause: Error) => {
    // The library's remedy names an API option the command line does not have.
    throw cause instanceof WeightsMismatchError ? new Error(`${cause.problem} (--arch, --classes).`) : cause;
  });
  return {
    teacher,
    description: `${arch} with weights ${weights}`,
    arch,
    classNames: cifarClassNames(teacher.numClasses),
    pretrained: true,
  };
}

async function fromModelFolder(location: string, options: Options, command: string): Promise<ResolvedTeacher> {
  const { teacher, metadata } = await loadTeacherFolder(location);
  const given = options.number('classes');
  if (given !== undefined && given !== teacher.numClasses) {
    teacher.model.dispose();
    throw new UsageError(`${command}: --classes ${given} does not match the model's ${teacher.numClasses} outputs; leave --classes out.`);
  }
  const arch = zooArchitectureOrUndefined(metadata?.arch);
  return {
    teacher,
    description: `tfjs model ${modelJsonPath(location)}${metadata === undefined && !options.has('mean') ? ' (no natinv metadata: inputs taken as [0, 1] pixels unless --mean/--std say otherwise)' : ''}`,
    arch,
    classNames: metadata?.classNames ?? (arch !== undefined ? cifarClassNames(teacher.numClasses) : undefined),
    pretrained: true,
  };
}

function untrained(arch: ZooArchitecture, options: Options): ResolvedTeacher {
  const numClasses = options.number('classes') ?? 10;
  const model = buildZooModel(arch, { numClasses, seed: 0 });
  model.trainable = false;
  const teacher: Teacher = {
    name: arch,
    model,
    normalization: ZOO[arch].normalization,
    numClasses,
    inputShape: [32, 32, 3],
    featureTaps: ZOO[arch].featureTaps,
  };
  return {
    teacher,
    description: `${arch} (freshly initialised, no weights)`,
    arch,
    classNames: cifarClassNames(numClasses),
    pretrained: false,
  };
}

/**
 * Loads the teacher the command line names. Usage errors (exit 2) for contradictory or
 * incomplete options and missing files; loading errors (a file that does not parse, weights that
 * do not fit) are runtime errors.
 */
export async function resolveTeacher(options: Options, how: ResolveTeacherOptions): Promise<ResolvedTeacher> {
  const { command } = how;
  const given = how.positional ?? options.string('teacher');
  const archText = options.string('arch');
  const arch = archText === undefined ? undefined : assertZooArchitecture(archText);
  const weights = options.string('weights');
  const resolvePath = (p: string): string => path.resolve(how.cwd, p);
  if (given !== undefined && weights !== undefined) {
    throw new UsageError(
      `${command}: give the network either as ${how.positional !== undefined ? '<model>' : '--teacher'} or as --arch with --weights, not both.`,
    );
  }
  if (weights !== undefined) {
    if (arch === undefined)
      throw new UsageError(
        `${command}: --weights needs --arch (which zoo architecture the weights are for: ${ZOO_ARCHITECTURES.join(', ')}).`,
      );
    requireFile(resolvePath(weights), '--weights', command);
    return withOverrides(await fromSafetensors(arch, resolvePath(weights), options), options, command);
  }
  if (given === undefined && arch !== undefined) {
    if (how.allowUntrained !== true) {
      throw new UsageError(`${command}: --arch ${arch} needs --weights FILE (a PyTorch state_dict as safetensors).`);
    }
    return withOverrides(untrained(arch, options), options, command);
  }
  const spec = given ?? DEFAULT_TEACHER;
  if (BUNDLED_NAMES.includes(spec)) {
    if (arch !== undefined) throw new UsageError(`${command}: --arch applies to .safetensors weights, not to the bundled teacher ${spec}.`);
    if (options.has('classes'))
      throw new UsageError(`${command}: --classes applies to .safetensors weights, not to the bundled teacher ${spec}.`);
    const teacher = await loadBundledTeacher(spec as BundledTeacherName);
    const info = BUNDLED_TEACHERS[spec as BundledTeacherName];
    return withOverrides(
      {
        teacher,
        description: `bundled ${spec} (${info.license.split(';')[0]})`,
        arch: info.arch,
        classNames: cifarClassNames(teacher.numClasses),
        pretrained: true,
        bundled: true,
      },
      options,
      command,
    );
  }
  const file = resolvePath(spec);
  if (spec.toLowerCase().endsWith('.safetensors')) {
    requireFile(file, 'the weights file', command);
    if (arch === undefined) {
      throw new UsageError(
        `${command}: ${spec} holds PyTorch weights; say which architecture with --arch (${ZOO_ARCHITECTURES.join(', ')}).`,
      );
    }
    return withOverrides(await fromSafetensors(arch, file, options), options, command);
  }
  if (!exists(file)) {
    const hint =
      spec.includes('/') || spec.includes('.') ? '' : `${suggestion(spec, BUNDLED_NAMES)}; bundled teachers: ${BUNDLED_NAMES.join(', ')}`;
    throw new UsageError(
      `${command}: no such model ${spec}${hint === '' ? '' : hint}; give a bundled name, a tfjs model folder or model.json, or a .safetensors file with --arch.`,
    );
  }
  const json = modelJsonPath(file);
  if (fs.statSync(file).isDirectory() && !exists(json)) {
    throw new UsageError(
      `${command}: the folder ${spec} has no ${path.basename(json)}; point at a tfjs model folder (model.json + weights.bin).`,
    );
  }
  if (!fs.statSync(file).isDirectory() && !spec.toLowerCase().endsWith('.json')) {
    throw new UsageError(
      `${command}: ${spec} is neither a tfjs model (folder or model.json) nor PyTorch weights (.safetensors with --arch).`,
    );
  }
  if (arch !== undefined)
    throw new UsageError(`${command}: --arch applies to .safetensors weights; a tfjs model folder carries its architecture.`);
  return withOverrides(await fromModelFolder(file, options, command), options, command);
}

/** Class names from `--class-names`, else what the teacher's source suggests. */
export function classNamesFor(
  resolved: ResolvedTeacher,
  given: readonly string[] | undefined,
  command: string,
): readonly string[] | undefined {
  if (given === undefined) return resolved.classNames?.length === resolved.teacher.numClasses ? resolved.classNames : undefined;
  if (given.length === 1 && given[0] === 'none') return undefined;
  if (given.length === 1 && given[0] === 'cifar10') return checkNames(CIFAR10_CLASSES, resolved, command);
  if (given.length === 1 && given[0] === 'cifar100') return checkNames(CIFAR100_FINE_CLASSES, resolved, command);
  return checkNames(given, resolved, command);
}

function checkNames(names: readonly string[], resolved: ResolvedTeacher, command: string): readonly string[] {
  if (names.length !== resolved.teacher.numClasses) {
    throw new UsageError(
      `${command}: --class-names lists ${names.length} names but the teacher has ${resolved.teacher.numClasses} classes.`,
    );
  }
  return names;
}
