/**
 * The natinv command line without heavy work: the parser, every command's --help, and every
 * bad-argument path (message and exit code). Runs the CLI in-process; one test spawns the built
 * executable.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { formatHelp, parseArgs, UsageError } from '../src/cli/args';
import { COMMANDS, run } from '../src/cli/run';
import { EXIT, formatDuration, formatNumber, formatTerms, Reporter } from '../src/cli/io';
import { fitLine, Progress } from '../src/cli/progress';
import { SYNTHESIZE } from '../src/cli/commands/synthesize';

const ROOT = path.resolve(__dirname, '..');

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process on the cpu backend with captured output. */
async function cli(argv: string[], env: Record<string, string | undefined> = { NATINV_BACKEND: 'cpu' }, cwd = ROOT): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

describe('parseArgs', () => {
  it('reads --name value, --name=value, flags, negated flags and positionals', () => {
    const parsed = parseArgs(SYNTHESIZE, ['--steps', '5', '--batch-size=3', '--json', '--no-png', '--mean', '0.5,0.4,-0.3']);
    expect(parsed.options).toEqual({ steps: 5, 'batch-size': 3, json: true, png: false, mean: [0.5, 0.4, -0.3] });
    expect(parsed.help).toBe(false);
  });

  it('stops at --help wherever it is', () => {
    expect(parseArgs(SYNTHESIZE, ['--steps', 'x', '--help']).help).toBe(true);
  });

  it.each([
    [['--stpes', '3'], /unknown option --stpes \(did you mean --steps\?\)/],
    [['--steps'], /--steps needs a value \(--steps N\)/],
    [['--steps', '--json'], /--steps needs a value/],
    [['--steps', '2.5'], /--steps needs a whole number, got "2.5"/],
    [['--steps', 'ten'], /--steps needs a whole number, got "ten"/],
    [['--steps', '0'], /--steps must be at least 1, got 0/],
    [['--seed', '-1'], /--seed must be at least 0, got -1/],
    [['--method', 'xi'], /--method: unknown value "xi"( \(did you mean \w+\?\))?; use one of ni, di, adi/],
    [['--arch', 'resnet99'], /--arch: unknown value "resnet99" \(did you mean resnet\d+\?\); use one of/],
    [['--backend', 'gpu'], /--backend: unknown value "gpu" \(did you mean cpu\?\); use one of cpu, wasm, tensorflow/],
    [['--mean', '1,a,2'], /--mean needs comma-separated numbers like a,b,c, got "1,a,2" \("a" is not a number\)/],
    [['--steps', '3', '--steps', '4'], /--steps is given twice/],
    [['--json=yes'], /--json takes no value/],
    [['--no-json'], /unknown option --no-json \(--json cannot be negated\)/],
    [['-s', '3'], /unknown option -s; options are written --name/],
    [['extra'], /unexpected argument "extra"; it takes no arguments/],
  ])('rejects %j', (argv, message) => {
    let error: unknown;
    try {
      parseArgs(SYNTHESIZE, argv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('progress display', () => {
  it('formats loss terms, numbers and durations compactly', () => {
    expect(formatTerms({ ce: 0.41, bn: 12.34, tv: 0.8, l2: 2543.2, competition: 3.1e-5 })).toBe(
      'ce 0.41 bn 12.3 tv 0.8 l2 2543 competition 3.1e-5',
    );
    expect([formatNumber(0), formatNumber(1.5), formatNumber(-0.25)]).toEqual(['0', '1.5', '-0.25']);
    expect([formatDuration(4_400), formatDuration(65_000), formatDuration(7_380_000)]).toEqual(['4s', '1m05s', '2h03m']);
  });

  function fakeRun(isTTY: boolean, onEstimate?: (reporter: Reporter) => void) {
    let out = '';
    let time = 0;
    const stream = { write: (t: string) => (out += t), isTTY, columns: 70 };
    const reporter = new Reporter({ stdout: stream, stderr: stream }, false);
    const progress = new Progress(reporter, () => time, onEstimate && (() => onEstimate(reporter)));
    progress.begin({ batches: 1, batchSize: 4, steps: 20, runBatches: 1 });
    for (let step = 1; step <= 20; step++) {
      time += step === 1 ? 3000 : 1000;
      progress.step({
        batch: 0,
        step,
        steps: 20,
        loss: 100 / step,
        terms: { ce: 1 / step, bn: 10 / step, tv: 0.8 },
        bestLoss: 0,
        learningRates: {},
        elapsedMs: time,
      });
    }
    return () => out;
  }

  it('on a terminal, rewrites one line in place, cut to the terminal width', () => {
    const out = fakeRun(true)();
    const frames = out.split('\r\x1b[2K').filter((f) => f !== '');
    expect(frames.length).toBeGreaterThan(10);
    expect(out).not.toContain('\n');
    frames.forEach((frame) => expect(frame.length).toBeLessThanOrEqual(69));
    // Too wide with the total loss: it goes first, the speed and ETA stay.
    expect(frames[frames.length - 1]).toBe('batch 1/1 step 20/20  ce 0.05 bn 0.5 tv 0.8  0.2 img/s  ETA 0s');
    expect(fitLine('a'.repeat(80), 'b'.repeat(70), '  ETA 5s', 40)).toBe(`${'b'.repeat(31)}…  ETA 5s`);
  });

  it('on a terminal, the time estimate starts a line of its own, not glued to the progress line', () => {
    const out = fakeRun(true, (reporter) => reporter.note('estimated time: 20s'))();
    // eslint-disable-next-line no-control-regex -- the terminal's erase-line escape is what is checked
    expect(out).toMatch(/ETA \S+\nestimated time: 20s\n\r\x1b\[2Kbatch 1\/1 step 6\/20/);
  });

  it("says whether a batch's agreement was judged on the PNGs' pixels or on unclipped images natinv evaluate does not see", () => {
    const report = (pixels: number[]): string => {
      let out = '';
      const stream = { write: (t: string) => (out += t) };
      const progress = new Progress(new Reporter({ stdout: stream, stderr: stream }, false), () => 0);
      progress.begin({ batches: 1, batchSize: 2, steps: 1, runBatches: 1 });
      const normalization = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
      const batch = {
        index: 0,
        shape: [2, 1, 1, 3],
        images: Float32Array.from(pixels, (p) => (p - 0.5) / 0.25),
        normalization,
        loss: 1,
        terms: { ce: 1 },
        targets: [1, 2],
        predictions: [1, 0],
        confidence: [0.5, 0.25],
      };
      progress.batchDone(batch as unknown as Parameters<Progress['batchDone']>[0], 'out/');
      return out;
    };
    expect(report([0, 0.2, 0.4, 0.6, 0.8, 1])).toContain(
      'teacher agrees on 1/2 targets (mean confidence 0.38; judged as the PNGs hold them) -> out/',
    );
    expect(report([0, 0.2, 0.4, 0.6, 0.8, 1.1])).toContain(
      'teacher agrees on 1/2 targets (mean confidence 0.38; judged unclipped, the PNGs are clipped) -> out/',
    );
  });

  it('elsewhere, prints a plain line at every tenth of the steps, with images/s and the ETA from steps after the first', () => {
    const lines = fakeRun(false)().trim().split('\n');
    expect(lines.map((l) => /step (\d+)\//.exec(l)?.[1])).toEqual(['1', '2', '4', '6', '8', '10', '12', '14', '16', '18', '20']);
    expect(lines[1]).toBe('batch 1/1 step 2/20  loss 50  ce 0.5 bn 5 tv 0.8  0.2 img/s  ETA 18s');
  });
});

describe('--help', () => {
  it.each(COMMANDS.map((c) => [c.spec.name, c.spec] as const))(
    'natinv %s --help lists every option with its default',
    async (name, spec) => {
      const { code, stdout, stderr } = await cli([name, '--help']);
      expect(code).toBe(EXIT.ok);
      expect(stderr).toBe('');
      expect(stdout).toBe(formatHelp(spec));
      expect(stdout).toContain(`Usage: natinv ${name}`);
      for (const option of spec.options) {
        const flag = option.kind === 'flag' && option.negatable === true ? `--no-${option.name}` : `--${option.name}`;
        expect(stdout).toMatch(new RegExp(`^  ${flag}\\b`, 'm'));
        if (option.default !== undefined) expect(stdout.replace(/\s+/g, ' ')).toContain(`Default: ${option.default}.`);
      }
      expect(stdout).toContain('-h, --help');
    },
  );

  it('every option that takes a value documents its default, or is required, or has none by nature', () => {
    const noDefault = new Set(['arch', 'weights', 'out', 'data']);
    for (const { spec } of COMMANDS) {
      for (const option of spec.options) {
        if (option.kind === 'flag' || noDefault.has(option.name)) continue;
        expect([spec.name, option.name, option.default]).toEqual([spec.name, option.name, expect.any(String)]);
      }
    }
  });

  it('natinv --help lists the commands and exit codes; no arguments prints it as a usage error', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const { spec } of COMMANDS) expect(help.stdout).toContain(`  ${spec.name}`);
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 the command failed, 2 bad command line, 130 interrupted');
    const none = await cli([]);
    expect(none.code).toBe(EXIT.usage);
    expect(none.stderr).toContain('Usage: natinv <command>');
    expect((await cli(['help', 'merge'])).stdout).toContain('Usage: natinv merge');
  });

  it('lists distill and prune right after synthesize, with their summaries', async () => {
    const help = await cli(['--help']);
    const listed = [...help.stdout.matchAll(/^ {2}([a-z]+) {2,}\S/gm)].map((m) => m[1]);
    expect(listed).toEqual(['synthesize', 'distill', 'prune', 'inspect', 'convert', 'evaluate', 'merge']);
    expect(help.stdout).toMatch(/^ {2}distill +Distill a teacher into a student/m);
    expect(help.stdout).toMatch(/^ {2}prune +Remove the smallest-L1 filters of a network/m);
  });
});

describe('bad command lines exit 2 with one line and no stack trace', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-args-'));
    fs.writeFileSync(path.join(tmp, 'not-a-model.txt'), 'hello');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const cases: Array<[string, string[], Record<string, string> | undefined, RegExp]> = [
    [
      'unknown command',
      ['synthesise'],
      undefined,
      /^natinv: unknown command "synthesise" \(did you mean synthesize\?\); commands: synthesize, distill, prune, inspect, convert, evaluate, merge/,
    ],
    [
      'unknown option',
      ['synthesize', '--bacth-size', '4'],
      undefined,
      /^natinv synthesize: unknown option --bacth-size \(did you mean --batch-size\?\); see natinv synthesize --help\.$/,
    ],
    ['missing value', ['synthesize', '--out'], undefined, /^natinv synthesize: --out needs a value \(--out DIR\)\.$/],
    ['non-integer', ['synthesize', '--batches', '1.5'], undefined, /^natinv synthesize: --batches needs a whole number, got "1\.5"\.$/],
    [
      'unknown method',
      ['synthesize', '--method', 'gan'],
      undefined,
      /^natinv synthesize: --method: unknown value "gan"; use one of ni, di, adi, fast\.$/,
    ],
    [
      'unknown arch',
      ['inspect', '--arch', 'resnet21'],
      undefined,
      /^natinv inspect: --arch: unknown value "resnet21" \(did you mean resnet\d+\?\); use one of resnet20/,
    ],
    [
      'unknown backend',
      ['synthesize', '--backend', 'webgl'],
      undefined,
      /^natinv synthesize: --backend: unknown value "webgl"; use one of cpu, wasm, tensorflow\.$/,
    ],
    [
      'unknown NATINV_BACKEND',
      ['inspect'],
      { NATINV_BACKEND: 'gpu' },
      /^natinv inspect: NATINV_BACKEND=gpu is not a backend natinv can start; set it to one of cpu, wasm, tensorflow or pass --backend\.$/,
    ],
    [
      'bad --shard',
      ['synthesize', '--shard', '4/4'],
      undefined,
      /^natinv synthesize: --shard 4\/4: shard index 4 is out of range for 4 shards; indices run 0\.\.3\.$/,
    ],
    ['malformed --shard', ['synthesize', '--shard', '1-4'], undefined, /^natinv synthesize: --shard expects i\/n .* got "1-4"\.$/],
    [
      'index without count',
      ['synthesize'],
      { NATINV_BACKEND: 'cpu', JOB_COMPLETION_INDEX: '2' },
      /^natinv synthesize: JOB_COMPLETION_INDEX is "2" but NATINV_SHARD_COUNT is not set/,
    ],
    [
      'sharded adi',
      ['synthesize', '--method', 'adi', '--shard', '1/2'],
      undefined,
      /^natinv synthesize: --method adi cannot be sharded \(shard 1\/2\): its student learns from every batch in turn/,
    ],
    [
      'student-arch without adi',
      ['synthesize', '--student-arch', 'resnet20'],
      undefined,
      /^natinv synthesize: --student-arch applies to --method adi only\.$/,
    ],
    [
      'missing weights file',
      ['synthesize', '--arch', 'resnet20', '--weights', 'nope.safetensors'],
      undefined,
      /^natinv synthesize: --weights .*nope\.safetensors does not exist\.$/,
    ],
    [
      'weights without arch',
      ['synthesize', '--weights', 'assets/cifar10_resnet20.safetensors'],
      undefined,
      /^natinv synthesize: --weights needs --arch/,
    ],
    ['arch without weights', ['synthesize', '--arch', 'resnet20'], undefined, /^natinv synthesize: --arch resnet20 needs --weights FILE/],
    [
      'safetensors teacher without arch',
      ['evaluate', '--teacher', 'assets/cifar10_resnet20.safetensors', '--data', 'assets'],
      undefined,
      /^natinv evaluate: .*cifar10_resnet20\.safetensors holds PyTorch weights; say which architecture with --arch/,
    ],
    [
      'unknown teacher name',
      ['inspect', 'cifar10-resnet21'],
      undefined,
      /^natinv inspect: no such model cifar10-resnet21 \(did you mean cifar10-resnet20\?\)/,
    ],
    [
      'missing model folder',
      ['inspect', 'no/such/folder'],
      undefined,
      /^natinv inspect: no such model no\/such\/folder; give a bundled name/,
    ],
    ['not a model', ['inspect', 'TMP/not-a-model.txt'], undefined, /^natinv inspect: .*not-a-model\.txt is neither a tfjs model/],
    [
      'mean of the wrong length',
      ['inspect', '--mean', '0.5,0.5,0.5,0.5'],
      undefined,
      /^natinv inspect: --mean needs 3 values \(one per input channel\), got 4\.$/,
    ],
    [
      'unknown tap',
      ['synthesize', '--taps', 'layer3.9'],
      undefined,
      /^natinv synthesize: --taps: the model has no layer "layer3\.9" \(did you mean layer3\.\d\?\); natinv inspect lists its layers\.$/,
    ],
    [
      'convert without --out',
      ['convert', 'assets/cifar10_resnet20.safetensors', '--arch', 'resnet20'],
      undefined,
      /^natinv convert: --out PATH is required/,
    ],
    ['convert without input', ['convert', '--out', 'x'], undefined, /^natinv convert: missing <input>/],
    [
      'convert of a missing input',
      ['convert', 'nope.safetensors', '--out', 'x'],
      undefined,
      /^natinv convert: the input .*nope\.safetensors does not exist\.$/,
    ],
    [
      'convert without --arch',
      ['convert', 'assets/cifar10_resnet20.safetensors', '--out', 'TMP/x'],
      undefined,
      /^natinv convert: assets\/cifar10_resnet20\.safetensors holds PyTorch weights; say which architecture with --arch/,
    ],
    ['evaluate without --data', ['evaluate'], undefined, /^natinv evaluate: --data PATH is required/],
    ['evaluate of a missing file', ['evaluate', '--data', 'nope.bin'], undefined, /^natinv evaluate: --data .*nope\.bin does not exist\.$/],
    ['merge without folders', ['merge', '--out', 'x'], undefined, /^natinv merge: missing <folders>/],
    ['merge of a missing folder', ['merge', 'nope', '--out', 'x'], undefined, /^natinv merge: the folder nope does not exist\.$/],
  ];

  it.each(cases)('%s', async (_, argv, env, message) => {
    const { code, stdout, stderr } = await cli(
      argv.map((a) => a.replace('TMP', tmp)),
      env ?? { NATINV_BACKEND: 'cpu' },
    );
    expect(stderr.trimEnd()).toMatch(message);
    expect(code).toBe(EXIT.usage);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
  });

  it('with --json, the error is also a JSON line on stdout', async () => {
    const { code, stdout } = await cli(['synthesize', '--json', '--shard', '2/2']);
    expect(code).toBe(EXIT.usage);
    const event = JSON.parse(stdout.trim());
    expect(event).toEqual({ event: 'error', usage: true, message: expect.stringContaining('shard index 2 is out of range') });
  });

  it('a runtime failure exits 1 with the message', async () => {
    const bad = path.join(tmp, 'broken.safetensors');
    fs.writeFileSync(bad, 'not safetensors');
    const { code, stderr } = await cli(['inspect', bad, '--arch', 'resnet20']);
    expect(code).toBe(EXIT.failure);
    expect(stderr).toMatch(/broken\.safetensors/);
    expect(stderr).not.toMatch(/\n\s+at /);
    const debug = await cli(['inspect', bad, '--arch', 'resnet20'], { NATINV_BACKEND: 'cpu', NATINV_DEBUG: '1' });
    expect(debug.code).toBe(EXIT.failure);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

describe('the built executable', () => {
  // dist/cli.js when it is up to date (npm run build / npm run demo); otherwise the same entry
  // bundled by esbuild (the bundler under tsup) into a temp folder.
  let executable: string;
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-bin-'));
    const built = path.join(ROOT, 'dist', 'cli.js');
    const newestSource = newestMtime(path.join(ROOT, 'src'));
    if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newestSource) {
      executable = built;
      return;
    }
    executable = path.join(ROOT, 'dist', `.cli-test-${process.pid}.js`);
    const esbuild = require('esbuild') as typeof import('esbuild');
    esbuild.buildSync({
      entryPoints: [path.join(ROOT, 'src/cli/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node18',
      external: ['@tensorflow/*'],
      outfile: executable,
      logLevel: 'silent',
    });
  });
  afterAll(() => {
    if (path.basename(executable).startsWith('.cli-test-')) fs.rmSync(executable, { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('package.json runs it as `natinv`, with a node shebang', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ natinv: 'dist/cli.js' });
    expect(fs.readFileSync(executable, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints help, reports usage errors with exit 2 and inspects the bundled teacher', () => {
    const node = (args: string[]) =>
      spawnSync(process.execPath, [executable, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, NATINV_BACKEND: 'cpu' } });
    const help = node(['synthesize', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--batch-size N');
    const bad = node(['synthesize', '--steps', 'many']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('natinv synthesize: --steps needs a whole number, got "many".\n');
    const inspect = node(['inspect', '--json']);
    expect(inspect.status).toBe(0);
    expect(JSON.parse(inspect.stdout).batchNorm).toHaveLength(19);
  });
});

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}
