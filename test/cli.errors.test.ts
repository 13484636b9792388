/**
 * Every way the natinv command fails, by exit code and message. Each UsageError and runtime
 * error raised in src/cli is exercised here or next to its command:
 * - the parser (src/cli/args.ts): test/cli.args.test.ts (parseArgs and the usage table), plus
 *   empty values, names lists and exact counts here;
 * - backends and teachers (backend.ts, teacher.ts, student.ts, model-folder.ts): the usage table
 *   in test/cli.args.test.ts, the wasm refusals in test/cli.synthesize.test.ts and
 *   test/cli.distill.test.ts, and the rest here;
 * - synthesize: test/cli.args.test.ts and test/cli.synthesize.test.ts (refused configuration,
 *   ADI resume), plus the missing feature taps and the class names here;
 * - inspect, convert, evaluate, merge: test/cli.args.test.ts and test/cli.models.test.ts, plus the
 *   remaining ones here;
 * - distill and prune: test/cli.distill.test.ts;
 * - a backend that does not start (--backend tensorflow without tfjs-node) and the cpu fallback's
 *   notes: test/cli.backend.test.ts.
 * The parser's catch-all for a value given to a flag in convert() cannot be reached: flags never
 * take that path (parseArgs reports `--json=x` itself).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CommandSpec, parseArgs, UsageError } from '../src/cli/args';
import { EXIT } from '../src/cli/io';
import { cliRunner, expectFailure, expectOneLineError, saveTinyFolder, writeCifar } from './helpers/cli';
import { MODELS_DIR } from './helpers/shared';
import { tinyTeacher } from './helpers/tiny-teacher';

const ROOT = path.resolve(__dirname, '..');
const BUNDLED = path.join(ROOT, 'assets', 'cifar10_resnet20.safetensors');

let tmp: string;
const cli = cliRunner(() => tmp);

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true });
  fs.writeFileSync(path.join(tmp, file), typeof value === 'string' ? value : JSON.stringify(value));
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-errors-'));
  await saveTinyFolder(tinyTeacher({ seed: 1 }).model, path.join(tmp, 't8'));
  writeJson('a-file', 'not a folder');
  await saveTinyFolder(tinyTeacher({ seed: 2 }).model, path.join(tmp, 't8-no-taps'), true, []);
  await saveTinyFolder(tinyTeacher({ seed: 3, numClasses: 10 }).model, path.join(tmp, 't8c10'));
  writeCifar(path.join(tmp, 'test.bin'), [0, 1, 2, 3]);
  fs.writeFileSync(path.join(tmp, 'a-file.txt'), 'not a folder');
  fs.mkdirSync(path.join(tmp, 'no-model'));
  for (const [teacher, out] of [
    ['t8', 'd8'],
    ['t8c10', 'd8c10'],
  ]) {
    const made = await cli([
      'synthesize',
      '--teacher',
      teacher,
      '--method',
      'di',
      '--batch-size',
      '10',
      '--steps',
      '1',
      '--no-png',
      '--out',
      out,
    ]);
    if (made.code !== EXIT.ok) throw new Error(`fixture ${out}: ${made.stderr}`);
  }
  fs.mkdirSync(path.join(tmp, 'empty'));
  const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'd8', 'manifest.json'), 'utf8')) as Record<string, unknown>;
  writeJson('empty/manifest.json', { ...manifest, finished: [] });

  // Broken model folders, each with one defect.
  const good = JSON.parse(fs.readFileSync(path.join(tmp, 't8', 'model.json'), 'utf8')) as Record<string, unknown>;
  const weights = fs.readFileSync(path.join(tmp, 't8', 'weights.bin'));
  const folder = (name: string, json: unknown, withWeights = true): void => {
    writeJson(`${name}/model.json`, json);
    if (withWeights) fs.writeFileSync(path.join(tmp, name, 'weights.bin'), weights);
  };
  folder('bad-json', '{ "modelTopology": ');
  folder('no-topology', { format: 'layers-model' });
  folder('no-weights', good, false);
  folder('bad-metadata', { ...good, userDefinedMetadata: { natinv: { name: 'x', normalization: { mean: 'no' } } } });
  folder('bad-topology', { ...good, modelTopology: { class_name: 'Nothing', config: {} } });
  // A model that is no image classifier: a Dense layer on vectors.
  const tfl = await import('@tensorflow/tfjs-layers');
  const input = tfl.input({ shape: [5], name: 'input' });
  const vector = tfl.model({
    inputs: input,
    outputs: tfl.layers.dense({ units: 3, name: 'linear' }).apply(input) as never,
    name: 'vector',
  });
  await saveTinyFolder(vector, path.join(tmp, 'vector'), false);
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the parser, on specs no command has', () => {
  const spec: CommandSpec = {
    name: 'test',
    summary: 'A command for parser tests.',
    options: [
      { name: 'pair', kind: 'numbers', value: 'a,b', count: 2, help: 'Two numbers.' },
      { name: 'trio', kind: 'names', value: 'x,y,z', count: 3, help: 'Three names.' },
    ],
  };

  it.each([
    [['--pair', '1,2,3'], 'natinv test: --pair needs exactly 2 comma-separated numbers (a,b), got 3.'],
    [['--trio', 'a,b'], 'natinv test: --trio needs exactly 3 comma-separated names, got 2.'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(spec, argv)).toThrow(new UsageError(message));
  });
});

describe('bad command lines exit 2 with one line and no stack trace', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an empty value', ['synthesize', '--out='], /^natinv synthesize: --out needs a non-empty DIR\.$/],
    [
      'a batch that cannot fit in memory, refused before the run is announced',
      ['synthesize', '--method', 'di', '--batch-size', '99999999999', '--out', 'huge'],
      /^natinv synthesize: --batch-size 99999999999 does not fit: its 32x32x3 images alone take \S+ GB as float32 and synthesis needs at least \S+ GB for the teacher's activations, on a machine with \S+ GB\. Use a smaller --batch-size \(the papers use 256\) and more --batches\.$/,
    ],
    [
      'a names list with a hole',
      ['synthesize', '--taps', 'layer3.2,,layer1.2'],
      /^natinv synthesize: --taps needs comma-separated names like a,b,c, got "layer3\.2,,layer1\.2"\.$/,
    ],
    [
      'an option before the command',
      ['--steps', '3'],
      /^natinv: unknown option --steps before a command; commands: synthesize, distill, prune, inspect, convert, evaluate, merge \(natinv --help\)\.$/,
    ],
    [
      'a second positional',
      ['inspect', 't8', 'more'],
      /^natinv inspect: unexpected argument "more"; it takes <model> \(see natinv inspect --help\)\.$/,
    ],
    ['a non-positive --std', ['inspect', '--std', '0.2,0,0.2'], /^natinv inspect: every --std value must be positive, got 0\.2,0,0\.2\.$/],
    [
      '--classes against a model folder',
      ['inspect', 't8', '--classes', '7'],
      /^natinv inspect: --classes 7 does not match the model's 4 outputs; leave --classes out\.$/,
    ],
    [
      'a model and --weights',
      ['inspect', 'cifar10-resnet20', '--arch', 'resnet20', '--weights', BUNDLED],
      /^natinv inspect: give the network either as <model> or as --arch with --weights, not both\.$/,
    ],
    [
      '--teacher and --weights',
      ['evaluate', '--teacher', 't8', '--arch', 'resnet20', '--weights', BUNDLED, '--data', 'test.bin'],
      /^natinv evaluate: give the network either as --teacher or as --arch with --weights, not both\.$/,
    ],
    [
      '--arch with the bundled teacher',
      ['synthesize', '--teacher', 'cifar10-resnet20', '--arch', 'resnet20'],
      /^natinv synthesize: --arch applies to \.safetensors weights, not to the bundled teacher cifar10-resnet20\.$/,
    ],
    [
      '--classes with the bundled teacher',
      ['inspect', '--classes', '10'],
      /^natinv inspect: --classes applies to \.safetensors weights, not to the bundled teacher cifar10-resnet20\.$/,
    ],
    [
      'a folder without model.json',
      ['inspect', 'no-model'],
      /^natinv inspect: the folder no-model has no model\.json; point at a tfjs model folder \(model\.json \+ weights\.bin\)\.$/,
    ],
    [
      '--arch with a model folder',
      ['inspect', 't8', '--arch', 'resnet20'],
      /^natinv inspect: --arch applies to \.safetensors weights; a tfjs model folder carries its architecture\.$/,
    ],
    [
      'class names of the wrong count',
      ['synthesize', '--teacher', 't8', '--class-names', 'a,b', '--out', 'never'],
      /^natinv synthesize: --class-names lists 2 names but the teacher has 4 classes\.$/,
    ],
    [
      'NaturalInversion without feature taps',
      ['synthesize', '--teacher', 't8-no-taps', '--out', 'never'],
      /^natinv synthesize: NaturalInversion feeds teacher feature maps to its pyramid, and natinv does not know which layers of t8-no-taps to use; name them with --taps \(deepest first; natinv inspect lists candidates\), or use --method di\.$/,
    ],
    [
      '--num-batches-tracked into a tfjs folder',
      ['convert', BUNDLED, '--arch', 'resnet20', '--num-batches-tracked', '--out', 'x'],
      /^natinv convert: --num-batches-tracked applies when writing \.safetensors weights\.$/,
    ],
    [
      'a tfjs folder onto a file',
      ['convert', BUNDLED, '--arch', 'resnet20', '--out', 'a-file.txt'],
      /^natinv convert: --out a-file\.txt is a file; a tfjs model is written to a folder\.$/,
    ],
    [
      '--layout with a dataset folder',
      ['evaluate', '--teacher', 't8', '--data', 'd8', '--layout', 'cifar100'],
      /^natinv evaluate: --layout applies to CIFAR files, not to a dataset folder\.$/,
    ],
    [
      '--labels with a dataset folder',
      ['evaluate', '--teacher', 't8', '--data', 'd8', '--labels', 'coarse'],
      /^natinv evaluate: --labels applies to CIFAR files, not to a dataset folder\.$/,
    ],
    [
      '--labels with the cifar10 layout',
      ['evaluate', '--data', 'test.bin', '--labels', 'coarse'],
      /^natinv evaluate: --labels applies to --layout cifar100\.$/,
    ],
    [
      'images of another size',
      ['evaluate', '--teacher', 't8', '--data', 'test.bin'],
      /^natinv evaluate: t8 takes 8x8x3 images but cifar10 file \S+test\.bin holds 32x32x3\.$/,
    ],
    [
      'targets beyond the classes',
      ['evaluate', '--teacher', 't8', '--data', 'd8c10'],
      /^natinv evaluate: synthesized dataset \S+d8c10 \(targets as labels\) has label 9 but t8 has 4 classes; check --layout\/--labels or the teacher\.$/,
    ],
    ['merge of a file', ['merge', 'a-file.txt', '--out', 'x'], /^natinv merge: a-file\.txt is not a folder; give dataset folders\.$/],
  ];

  it.each(cases)('%s', async (_, argv, message) => {
    expectOneLineError(await cli(argv), message, EXIT.usage);
  });
});

describe('failures exit 1 with the message naming the file', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'weights of another depth: counts, a few names, a guess at the architecture, one natinv prefix, no API-only hint',
      ['synthesize', '--arch', 'resnet20', '--weights', path.join(MODELS_DIR, 'cifar10_resnet56.safetensors')],
      /^natinv: cannot load resnet20 weights from \S+cifar10_resnet56\.safetensors: the PyTorch weights do not fit model "resnet20" \(\d+ problems\):\n {2}\d+ unexpected: [^\n]*; and \d+ more\nThe tensor names look like resnet56 \(9 blocks per stage\)\. Check that the architecture and numClasses match the checkpoint \(--arch, --classes\)\.$/,
    ],
    [
      'an --out that is a file, named without the library function',
      ['synthesize', '--method', 'di', '--batch-size', '1', '--steps', '1', '--out', 'a-file'],
      /\nnatinv synthesize: \S+a-file is a file, not a folder; give the path of a folder \(it is created if missing\)\.$/,
    ],
    [
      'a model.json that is not JSON',
      ['inspect', 'bad-json'],
      /^natinv inspect: \S+bad-json.model\.json is not valid JSON \(.*\); it is not a tfjs model\.json\.$/,
    ],
    [
      'a model.json without topology',
      ['inspect', 'no-topology'],
      /^natinv inspect: \S+no-topology.model\.json has no modelTopology and weightsManifest; it is not a tfjs LayersModel model\.json\.$/,
    ],
    [
      'a model folder without its weights',
      ['inspect', 'no-weights'],
      /^natinv inspect: cannot read weights file \S+no-weights.weights\.bin: /,
    ],
    [
      'malformed natinv metadata',
      ['inspect', 'bad-metadata'],
      /^natinv inspect: \S+bad-metadata.model\.json: userDefinedMetadata\.natinv is malformed \(it needs name, normalization \{mean, std\}, featureTaps\); fix it or delete the key and pass --mean\/--std\/--taps instead\.$/,
    ],
    [
      'a topology tfjs cannot build',
      ['inspect', 'bad-topology'],
      /^natinv inspect: cannot build the model in \S+bad-topology.model\.json: /,
    ],
    [
      'a model that is no image classifier',
      ['inspect', 'vector'],
      /^natinv inspect: \S+vector.model\.json: natinv needs an image classifier \(input \[N, H, W, C\], logits \[N, classes\]\); this model takes \[N, 5\] and returns \[N, 3\]\.$/,
    ],
    [
      'a dataset without a finished batch',
      ['evaluate', '--teacher', 't8', '--data', 'empty'],
      /^natinv evaluate: dataset \S+empty holds no finished batch yet; run natinv synthesize on it first\.$/,
    ],
  ];

  it.each(cases)('%s', async (_, argv, message) => {
    expectFailure(await cli(argv), message);
  });
});
