/**
 * `natinv synthesize` and `natinv merge` end to end on the cpu backend with tiny settings:
 * files written, Ctrl-C keeping finished batches, resuming, skipping, --json, refusing another
 * run's folder, sharding and merging.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readBatch, readManifest, readRunRecord, reproduceRun } from '../src/dataset';
import { loadBundledTeacher } from '../src/models/zoo-files';
import { batchFilePath, batchGridPath, batchImagesPath } from '../src/dataset/format';
import { CIFAR10_CLASSES } from '../src/io/cifar';
import { decodePng } from '../src/io/png-node';
import { EXIT } from '../src/cli/io';
import { describeTuning, QUICK_SETTINGS } from '../src/cli/quick-settings';
import type { BackendName } from '../src/runtime/backend';
import { BACKEND, cliRunner } from './helpers/cli';

let tmp: string;
const cli = cliRunner(() => tmp);
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-synth-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('a DeepInversion run: stop, resume, skip, refuse', () => {
  const argv = ['synthesize', '--method', 'di', '--batches', '2', '--batch-size', '3', '--steps', '2', '--out', 'di'];
  const folder = () => path.join(tmp, 'di');

  it('Ctrl-C after the first batch keeps it, writes its PNGs, grid and manifest, and exits 130', async () => {
    const controller = new AbortController();
    const { code, stderr } = await cli(argv, {
      signal: controller.signal,
      onStderr: (text) => {
        if (text.includes('batch 1/2 done')) controller.abort();
      },
    });
    expect(stderr).toContain('DeepInversion on bundled cifar10-resnet20');
    expect(stderr).toMatch(/^batch 1\/2 step 1\/2 {2}loss \S+ {2}ce \S+ bn \S+ tv \S+ {2}\S+ img\/s {2}ETA \S+$/m);
    expect(stderr).toMatch(/^estimated time: [\dms]+ for 2 batches of 3 images x 2 steps \(\d+\.\d\d s\/step, measured\)$/m);
    expect(stderr).toMatch(/^batch 1\/2 step 2\/2 .* img\/s {2}ETA \S+$/m);
    expect(stderr).toContain('stopped: 1 batch written this time; rerun the same command to continue.');
    expect(code).toBe(EXIT.interrupted);

    const manifest = await readManifest(folder());
    expect(manifest.finished).toEqual([0]);
    expect(manifest.configuration).toMatchObject({ synthesis: { method: 'deepInversion', batchSize: 3, steps: 2, seed: 0 } });
    expect(fs.existsSync(batchFilePath(folder(), 1))).toBe(false);
    const pngs = fs.readdirSync(batchImagesPath(folder(), 0)).sort();
    expect(pngs).toHaveLength(3);
    expect(pngs[0]).toMatch(/^0000-[a-z]+\.png$/);
    const grid = decodePng(new Uint8Array(fs.readFileSync(batchGridPath(folder(), 0))));
    expect(grid.width).toBeGreaterThan(64);
  });

  it('the same command resumes with batch 1 only; --json prints parseable events', async () => {
    const before = fs.readFileSync(batchFilePath(folder(), 0));
    const { code, stdout, stderr } = await cli([...argv, '--json']);
    expect(code).toBe(EXIT.ok);
    expect(stderr).toContain('resuming: 1 of 2 batches already in');
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('start');
    expect(kinds).toEqual(expect.arrayContaining(['step', 'estimate', 'batch', 'done']));
    expect(kinds[kinds.length - 1]).toBe('done');
    expect(events.find((e) => e.event === 'start')).toMatchObject({
      backend: BACKEND,
      batches: 2,
      batchSize: 3,
      steps: 2,
      shard: { index: 0, count: 1 },
    });
    const step = events.find((e) => e.event === 'step') as { terms: Record<string, number>; batch: number };
    expect(Object.keys(step.terms)).toEqual(['ce', 'bn', 'tv']);
    expect(step.batch).toBe(1);
    expect(events.filter((e) => e.event === 'batch').map((e) => e.index)).toEqual([1]);
    expect(events[events.length - 1]).toMatchObject({ written: [1], skipped: [0], aborted: false });
    expect(fs.readFileSync(batchFilePath(folder(), 0)).equals(before)).toBe(true);
    expect((await readBatch(batchFilePath(folder(), 1))).shape).toEqual([3, 32, 32, 3]);
  });

  it('a third run finds everything finished and leaves the files alone', async () => {
    const bytes = [0, 1].map((i) => fs.readFileSync(batchFilePath(folder(), i)));
    const { code, stderr, stdout } = await cli(argv);
    expect(code).toBe(EXIT.ok);
    expect(stderr).toContain('nothing to do: every batch of this run is already in');
    expect(stderr).not.toContain('step 1/2');
    expect(stdout).toContain(`manifest: ${path.join(folder(), 'manifest.json')}`);
    [0, 1].forEach((i) => expect(fs.readFileSync(batchFilePath(folder(), i)).equals(bytes[i])).toBe(true));
  });

  it('another configuration in the same folder is refused (exit 1), naming the difference and --overwrite', async () => {
    const { code, stderr } = await cli([...argv, '--seed', '1']);
    expect(code).toBe(EXIT.failure);
    expect(stderr).toContain('already holds a dataset made with a different configuration');
    expect(stderr).toContain('seed: 0 in the folder, 1 in this run');
    expect(stderr).toContain('pass --overwrite');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('NaturalInversion (the default method)', () => {
  it('writes a batch with every loss term in the progress', async () => {
    const { code, stderr, stdout } = await cli(['synthesize', '--batch-size', '1', '--steps', '1', '--out', 'ni']);
    expect(code).toBe(EXIT.ok);
    expect(stderr).toContain('NaturalInversion on bundled cifar10-resnet20');
    expect(stderr).toMatch(/^batch 1\/1 step 1\/1 {2}loss \S+ {2}ce \S+ bn \S+ tv \S+ l2 \S+/m);
    expect(stderr).toMatch(/^wrote 1 batch \(1 image\) in [\dms]+$/m);
    const folder = path.join(tmp, 'ni');
    expect(stdout).toContain(`grid:     ${batchGridPath(folder, 0)}`);
    const batch = await readBatch(batchFilePath(folder, 0));
    expect(batch.method).toBe('naturalInversion');
    expect(batch.shape).toEqual([1, 32, 32, 3]);
    expect(fs.readdirSync(batchImagesPath(folder, 0))).toEqual([`0000-${CIFAR10_CLASSES[batch.targets[0]]}.png`]);
    expect((await readManifest(folder)).configuration).toMatchObject({ synthesis: { featureTaps: ['layer3.2', 'layer2.2', 'layer1.2'] } });
  });

  it("with no size options, announces the quick setting for the backend and the papers' one", async () => {
    const controller = new AbortController();
    controller.abort(); // stop before the first step: only the announcement is under test
    const { code, stderr } = await cli(['synthesize'], { signal: controller.signal });
    expect(code).toBe(EXIT.interrupted);
    const quick = QUICK_SETTINGS[BACKEND as BackendName].ni;
    expect(stderr).toContain(
      `quick setting for the ${BACKEND} backend: 1 batch of ${quick.batchSize} images x ${quick.steps} steps, BN weight 1 ` +
        `(${quick.about} on a 2-core machine). The papers' setting is --batch-size 256 --steps 2000.`,
    );
    if (BACKEND === 'cpu') expect(stderr).toContain('--backend wasm is many times faster');
    const { configuration } = await readManifest(path.join(tmp, 'natinv-out'));
    expect(configuration).toMatchObject({ synthesis: { method: 'naturalInversion', steps: quick.steps, weights: { bn: 1 } } });
  });

  it("tunes DeepInversion for its quick schedule, records the tuning, and keeps the papers' settings at chosen steps", async () => {
    const controller = new AbortController();
    controller.abort();
    const quick = QUICK_SETTINGS[BACKEND as BackendName].di;
    const { stderr } = await cli(['synthesize', '--method', 'di', '--out', 'di-quick'], { signal: controller.signal });
    expect(describeTuning(quick.tuning ?? {})).toBe('learning rate 0.1, BN weight 1, pixels clipped to [0, 1] every step');
    expect(stderr).toContain(`${quick.steps} steps, ${describeTuning(quick.tuning ?? {})} (`);
    expect((await readRunRecord(path.join(tmp, 'di-quick'))).synthesis).toEqual({
      method: 'deepInversion',
      batchSize: quick.batchSize,
      steps: quick.steps,
      seed: 0,
      learningRate: 0.1,
      weights: { bn: 1 },
      clipPixels: true,
    });
    await cli(['synthesize', '--method', 'di', '--steps', '3', '--out', 'di-chosen'], { signal: controller.signal });
    expect((await readRunRecord(path.join(tmp, 'di-chosen'))).synthesis).toEqual({
      method: 'deepInversion',
      batchSize: quick.batchSize,
      steps: 3,
      seed: 0,
    });
  });
});

describe('long runs', () => {
  it('get a measured estimate and a quicker setting to try, early on', async () => {
    const controller = new AbortController();
    const { code, stderr } = await cli(['synthesize', '--method', 'di', '--batch-size', '1', '--steps', '100000', '--out', 'long'], {
      signal: controller.signal,
      onStderr: (text) => {
        if (text.startsWith('that is long')) controller.abort();
      },
    });
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).toMatch(/^estimated time: \S+ for 1 batch of 1 image x 100000 steps \(\d+\.\d\d s\/step, measured\)$/m);
    const faster = BACKEND === 'cpu' ? ', or --backend wasm \\(many times faster\\), or install @tensorflow/tfjs-node' : '';
    expect(stderr).toMatch(
      new RegExp(
        `^that is long: for a quick look leave out --batch-size and --steps \\(the quick setting, about \\S+\\)${faster}\\.$`,
        'm',
      ),
    );
    expect(fs.existsSync(batchFilePath(path.join(tmp, 'long'), 0))).toBe(false);
  });
});

describe('Adaptive DeepInversion', () => {
  // One batch of one image: each student round is a training step, and the cpu backend's
  // convolution weight gradient (Conv2DBackpropFilter) takes tens of seconds even for that.
  it('trains the student after the batch, saves it, and refuses to resume', async () => {
    const argv = ['synthesize', '--method', 'adi', '--batch-size', '1', '--steps', '1', '--no-png', '--out', 'adi'];
    const { code, stderr, stdout } = await cli(argv);
    expect(code).toBe(EXIT.ok);
    expect(stderr).toContain('Adaptive DeepInversion on bundled cifar10-resnet20');
    expect(stderr).toMatch(/^batch 1\/1 step 1\/1 {2}loss \S+ {2}ce \S+ bn \S+ tv \S+ competition \S+/m);
    expect(stderr).toMatch(/^student round 1: resnet20 distilled for 1 step in [\dms]+ \(kd loss \S+\)$/m);
    const folder = path.join(tmp, 'adi');
    expect(stdout).toContain(`student:  ${path.join(folder, 'student', 'model.json')} (resnet20 after 1 round of distillation)`);
    expect((await readManifest(folder)).configuration).toMatchObject({
      synthesis: { method: 'adaptiveDeepInversion', student: { arch: 'resnet20' } },
    });
    expect((await readBatch(batchFilePath(folder, 0))).method).toBe('adaptiveDeepInversion');

    const inspect = await cli(['inspect', 'adi/student', '--json']);
    expect(inspect.code).toBe(EXIT.ok);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ name: 'cifar10-resnet20-adi-resnet20', numClasses: 10 });

    const more = await cli([...argv, '--batches', '2']);
    expect(more.code).toBe(EXIT.failure);
    expect(more.stderr).toMatch(/already holds batch 0 of this adaptiveDeepInversion run, which cannot resume: [^]* --overwrite/);
  }, 300_000);

  it('is refused on wasm, which cannot train the student', async () => {
    const { code, stderr } = await cli(['synthesize', '--method', 'adi', '--backend', 'wasm', '--out', 'never']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toBe(
      'natinv synthesize: --method adi trains a student, and the wasm backend cannot train convolutions (no Conv2DBackpropFilter kernel); use --backend tensorflow or cpu.\n',
    );
  });
});

describe('shards and merge', () => {
  const argv = ['synthesize', '--method', 'di', '--batches', '2', '--batch-size', '1', '--steps', '1', '--no-png'];

  it('--shard and JOB_COMPLETION_INDEX split a run; natinv merge joins it byte for byte', async () => {
    const first = await cli([...argv, '--shard', '0/2', '--out', 's0']);
    expect(first.code).toBe(EXIT.ok);
    const second = await cli([...argv, '--out', 's1'], {
      env: { NATINV_BACKEND: BACKEND, JOB_COMPLETION_INDEX: '1', NATINV_SHARD_COUNT: '2' },
    });
    expect(second.code).toBe(EXIT.ok);
    expect((await readManifest(path.join(tmp, 's0'))).finished).toEqual([0]);
    expect((await readManifest(path.join(tmp, 's1'))).finished).toEqual([1]);
    expect(fs.existsSync(path.join(tmp, 's0', 'images'))).toBe(false);

    const merged = await cli(['merge', 's0', 's1', '--out', 'merged', '--json']);
    expect(merged.code).toBe(EXIT.ok);
    expect(JSON.parse(merged.stdout)).toMatchObject({ event: 'merged', copied: [0, 1], missing: [] });
    for (const [index, shard] of [
      [0, 's0'],
      [1, 's1'],
    ] as const) {
      const copy = fs.readFileSync(batchFilePath(path.join(tmp, 'merged'), index));
      expect(copy.equals(fs.readFileSync(batchFilePath(path.join(tmp, shard), index)))).toBe(true);
    }
    const partial = await cli(['merge', 's0', '--out', 'partial']);
    expect(partial.code).toBe(EXIT.ok);
    expect(partial.stdout).toContain('copied 1 batch');
    expect(partial.stderr).toContain('still missing 1 planned batch (1); rerun the shards that own them');
  });
});

describe('--config', () => {
  const write = (name: string, value: unknown): string => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };

  it('records a run from flags so that reproduceRun makes the same batch', async () => {
    const argv = ['synthesize', '--method', 'di', '--batch-size', '1', '--steps', '2', '--seed', '3', '--no-png', '--out', 'from-flags'];
    expect((await cli(argv)).code).toBe(EXIT.ok);
    const folder = path.join(tmp, 'from-flags');
    const teacher = await loadBundledTeacher('cifar10-resnet20');
    try {
      await reproduceRun({ from: folder, to: path.join(tmp, 'from-flags-again'), teacher, png: false });
    } finally {
      teacher.model.dispose();
    }
    const [a, b] = await Promise.all([
      readBatch(batchFilePath(folder, 0)),
      readBatch(batchFilePath(path.join(tmp, 'from-flags-again'), 0)),
    ]);
    expect(Buffer.from(b.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
  });

  it('runs the configuration in a JSON file and records it so that reproduceRun makes the same batch', async () => {
    const run = { method: 'deepInversion', batchSize: 1, steps: 2, seed: 4, learningRate: 0.1, weights: { bn: 1 } };
    const { code, stderr } = await cli(['synthesize', '--config', write('run.json', run), '--no-png', '--out', 'from-config']);
    expect(stderr).toMatch(/^wrote 1 batch \(1 image\)/m);
    expect(code).toBe(EXIT.ok);
    const folder = path.join(tmp, 'from-config');
    const record = await readRunRecord(folder);
    expect(record.synthesis).toEqual(run);
    expect(record.backend).toBe(BACKEND);

    const teacher = await loadBundledTeacher('cifar10-resnet20');
    try {
      await reproduceRun({ from: folder, to: path.join(tmp, 'from-config-again'), teacher, png: false });
    } finally {
      teacher.model.dispose();
    }
    const [a, b] = await Promise.all([
      readBatch(batchFilePath(folder, 0)),
      readBatch(batchFilePath(path.join(tmp, 'from-config-again'), 0)),
    ]);
    expect(Buffer.from(b.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
  });

  it.each<[string, () => string[], RegExp]>([
    [
      'flags the file replaces',
      () => ['--config', write('a.json', { method: 'deepInversion', batchSize: 1, steps: 1, seed: 0 }), '--steps', '5', '--seed', '1'],
      /^natinv synthesize: --config sets the method and its settings; leave out --steps, --seed\.$/,
    ],
    ['a file that is not there', () => ['--config', 'missing.json'], /^natinv synthesize: --config missing\.json: no such file\.$/],
    [
      'a file that is not JSON',
      () => ['--config', write('b.json', '{ method: di }')],
      /^natinv synthesize: --config \S+b\.json is not JSON: /,
    ],
    [
      'a setting that is wrong',
      () => ['--config', write('c.json', { method: 'deepInversion', batchSize: 0, steps: 1, seed: 0 })],
      /^natinv synthesize: --config \S+c\.json\.batchSize must be a positive integer, got 0\.$/,
    ],
  ])('refuses %s in one line', async (_case, argv, message) => {
    const { code, stderr } = await cli(['synthesize', ...argv(), '--out', 'bad-config']);
    expect(code).toBe(EXIT.usage);
    expect(stderr.trim()).toMatch(message);
  });
});
