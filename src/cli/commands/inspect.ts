/**
 * `natinv inspect`: what natinv sees in a network: its BatchNorm layers (what R_BN matches) and
 * the layers whose outputs can be tapped (feature maps for NaturalInversion's pyramid).
 */
import { tapNetwork } from '../../taps';
import { CommandSpec, formatRows, Options, ParsedArgs } from '../args';
import { chooseBackend, MODEL_BACKEND_OPTION } from '../backend';
import { CliIo, EXIT, plural, Reporter } from '../io';
import { resolveTeacher, teacherOptions } from '../teacher';

export const INSPECT: CommandSpec = {
  name: 'inspect',
  summary: "List a network's BatchNorm layers and its tap candidates (layer outputs that are feature maps), with shapes.",
  description: [
    'Shapes leave out the batch axis (height x width x channels). Layers marked * are the feature taps ' +
      'NaturalInversion uses by default, deepest first; pick others with natinv synthesize --taps.',
  ],
  positionals: [
    {
      name: 'model',
      help: 'The network, as --teacher: a bundled name, a tfjs model folder or model.json, or a .safetensors file with --arch.',
    },
  ],
  options: [
    ...teacherOptions().filter((o) => o.name !== 'taps'),
    MODEL_BACKEND_OPTION,
    { name: 'json', kind: 'flag', help: 'Print one JSON object on stdout instead of the tables.' },
  ],
  examples: ['natinv inspect cifar10-resnet20', 'natinv inspect --arch resnet34', 'natinv inspect my-model/model.json --json'],
};

function shapeText(shape: readonly number[]): string {
  return shape.map((d) => (d < 0 ? '?' : String(d))).join('x');
}

/** Runs `natinv inspect`; returns the exit code. */
export async function inspectCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  await chooseBackend(options.string('backend'), io.env ?? process.env, reporter, 'models');
  const resolved = await resolveTeacher(options, {
    command: 'natinv inspect',
    positional: args.positionals[0],
    allowUntrained: true,
    cwd: io.cwd ?? process.cwd(),
  });
  const { teacher } = resolved;
  try {
    const network = tapNetwork(teacher.model);
    const defaults = new Set(teacher.featureTaps);
    const batchNorm = network.batchNormLayers.map((layer) => ({ layer, shape: network.outputShape(layer) }));
    const taps = network.layerNames
      .map((layer) => {
        let shape: number[] | undefined;
        try {
          shape = network.outputShape(layer);
        } catch {
          shape = undefined; // layers with several outputs cannot be tapped
        }
        return { layer, shape, kind: network.layer(layer).getClassName() };
      })
      .filter(
        (t): t is { layer: string; shape: number[]; kind: string } =>
          t.shape !== undefined && t.shape.length === 3 && t.kind !== 'InputLayer',
      )
      .map((t) => ({ ...t, defaultTap: defaults.has(t.layer) }));
    const parameters = teacher.model.countParams();
    const shapeWidth = Math.max(...taps.map((t) => shapeText(t.shape).length));
    if (reporter.json) {
      reporter.stdout.write(
        `${JSON.stringify({
          event: 'inspect',
          name: teacher.name,
          source: resolved.description,
          pretrained: resolved.pretrained,
          inputShape: teacher.inputShape,
          numClasses: teacher.numClasses,
          parameters,
          normalization: teacher.normalization,
          featureTaps: teacher.featureTaps,
          batchNorm,
          taps,
        })}\n`,
      );
      return EXIT.ok;
    }
    const lines: string[] = [
      `${teacher.name}: ${resolved.description}`,
      `input ${shapeText(teacher.inputShape)}, ${plural(teacher.numClasses, 'class', 'classes')}, ${parameters.toLocaleString('en-US')} parameters`,
      `normalization: mean ${teacher.normalization.mean.join(',')} std ${teacher.normalization.std.join(',')}`,
      '',
      `${plural(batchNorm.length, 'BatchNorm layer')} (R_BN compares the statistics of their inputs), in model order:`,
      ...formatRows(batchNorm.map((b) => [b.layer, shapeText(b.shape)])),
      '',
      `${plural(taps.length, 'tap candidate')} (layer outputs that are feature maps)` +
        (teacher.featureTaps.length > 0 ? `; * = default feature taps (${teacher.featureTaps.join(', ')}):` : ':'),
      ...formatRows(taps.map((t) => [`${t.defaultTap ? '* ' : '  '}${t.layer}`, `${shapeText(t.shape).padEnd(shapeWidth)}  ${t.kind}`])),
    ];
    reporter.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    teacher.model.dispose();
  }
}
