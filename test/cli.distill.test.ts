/**
 * `natinv distill` and `natinv prune` in-process on tiny networks (8x8 and 32x32 classifiers of a
 * few hundred parameters saved as tfjs model folders, datasets of a few images synthesized from
 * them, a CIFAR test file written here): what they write, report and print with --json, Ctrl-C,
 * --overwrite, determinism, no tensor left behind, and every bad argument (message and exit code).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { EXIT, Reporter } from '../src/cli/io';
import { TrainingProgress } from '../src/cli/training';
import { readDataset } from '../src/dataset';
import { parseSafetensors } from '../src/io/safetensors';
import { loadTeacherFolder } from '../src/models/model-folder';
import { CIFAR_NORMALIZATION } from '../src/models/teacher';
import { tinyNet } from './apps.fixtures';
import { BACKEND, cliRunner, depthwiseNet, expectFailure, expectOneLineError, saveTinyFolder, tiny32, writeCifar } from './helpers/cli';
import { tinyTeacher } from './helpers/tiny-teacher';

let tmp: string;
const cli = cliRunner(() => tmp);
const saveFolder = (model: tfl.LayersModel, name: string, withMetadata = true): Promise<void> =>
  saveTinyFolder(model, path.join(tmp, name), withMetadata);

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(tmp, file), 'utf8')) as Record<string, unknown>;
}

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-distill-'));
  // Teachers: 8x8 with 4 and 10 classes, 32x32 with 4 classes; students that fit them.
  await saveFolder(tinyTeacher({ seed: 1 }).model, 't8');
  await saveFolder(tinyTeacher({ seed: 3, numClasses: 10 }).model, 't8c10');
  await saveFolder(tiny32(11, 4), 't32');
  await saveFolder(tinyNet({ seed: 5, numClasses: 4 }), 's8', false);
  await saveFolder(tinyNet({ seed: 6, numClasses: 10 }), 's8c10', false);
  await saveFolder(tiny32(21, 4), 's32', false);
  await saveFolder(depthwiseNet(), 'dw');
  writeCifar(path.join(tmp, 'test4.bin'), [0, 1, 2, 3, 3, 2, 1, 0, 1, 2]);
  writeCifar(path.join(tmp, 'test10.bin'), [0, 9, 4, 7]);
  fs.writeFileSync(path.join(tmp, 'broken.bin'), new Uint8Array(3073 + 5));
  fs.writeFileSync(path.join(tmp, 'a-file.txt'), 'not a folder');
  fs.mkdirSync(path.join(tmp, 'not-a-dataset'));
  // Datasets synthesized from the teachers (DeepInversion, one step: only their shapes and targets matter).
  const synth = ['synthesize', '--method', 'di', '--steps', '1', '--no-png'];
  for (const [teacher, size, out] of [
    ['t8', '8', 'd8'],
    ['t8', '2', 'd2'],
    ['t32', '8', 'd32'],
    ['t8c10', '10', 'd8c10'],
  ]) {
    const made = await cli([...synth, '--teacher', teacher, '--batch-size', size, '--out', out]);
    if (made.code !== EXIT.ok) throw new Error(`fixture ${out}: ${made.stderr}`);
  }
  // A dataset folder whose run has not finished a batch yet.
  fs.mkdirSync(path.join(tmp, 'empty'));
  const manifest = { ...readJson('d8/manifest.json'), finished: [] };
  fs.writeFileSync(path.join(tmp, 'empty', 'manifest.json'), JSON.stringify(manifest));
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('natinv distill', () => {
  it('trains a student folder, scores it on --test every epoch, writes the model, PyTorch weights, checkpoints and training.json', async () => {
    const before = tf.memory().numTensors;
    const { code, stdout, stderr } = await cli([
      'distill',
      '--teacher',
      't32',
      '--data',
      'd32',
      '--student',
      's32',
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--lr',
      '0.05',
      '--test',
      'test4.bin',
      '--out',
      'kd32',
      '--json',
    ]);
    expect(stderr).not.toContain('natinv distill:');
    expect(code).toBe(EXIT.ok);
    expect(tf.memory().numTensors).toBe(before);

    const out = path.join(tmp, 'kd32');
    expect(stderr).toContain(
      `distilling tfjs model ${path.join(tmp, 't32', 'model.json')} into tfjs model ${path.join(tmp, 's32', 'model.json')} (`,
    );
    expect(stderr).toContain('2 epochs over 8 images (2 steps of 4 per epoch), T 20');
    expect(stderr).toMatch(/^teacher on 10 test images \(cifar10 file test4\.bin\): \d+\.\d\d%$/m);
    expect(stderr).toMatch(/^distill epoch 1\/2 {2}loss \S+ {2}lr \S+ {2}test \d+\.\d\d% {2}[\dms]+ {2}ETA [\dms]+$/m);
    expect(stderr).toMatch(/^distill epoch 2\/2 {2}loss \S+ {2}lr \S+ {2}test \d+\.\d\d% {2}[\dms]+$/m);

    const lines = events(stdout);
    expect(lines.map((e) => e.event)).toEqual(['start', 'epoch', 'epoch', 'done']);
    expect(lines[0]).toMatchObject({
      teacher: 't32',
      images: 8,
      epochs: 2,
      batchSize: 4,
      learningRate: 0.05,
      temperature: 20,
      backend: BACKEND,
      out,
    });
    expect(lines[1]).toMatchObject({
      epoch: 1,
      epochs: 2,
      step: 2,
      steps: 4,
      terms: { kd: expect.any(Number) },
      testAccuracy: expect.any(Number),
    });
    const done = lines[3] as {
      testAccuracy: number;
      teacherAccuracy: number;
      history: unknown[];
      files: Record<string, string>;
      aborted: boolean;
    };
    expect(done).toMatchObject({ epochsDone: 2, steps: 4, aborted: false, studentArch: null });
    expect(done.history).toHaveLength(2);
    expect(done.files).toEqual({
      modelJson: path.join(out, 'model.json'),
      weights: path.join(out, 'weights.bin'),
      safetensors: path.join(out, 'model.safetensors'),
      training: path.join(out, 'training.json'),
    });
    // Each epoch's weights, and the state that resumes the run after the last one.
    expect(fs.readdirSync(path.join(out, 'checkpoints')).sort()).toEqual([
      'epoch-0001.safetensors',
      'epoch-0002.safetensors',
      'resume-0002.safetensors',
      'resume.json',
    ]);
    const training = readJson('kd32/training.json');
    expect(training).toMatchObject({
      command: 'distill',
      epochsDone: 2,
      testAccuracy: done.testAccuracy,
      teacherAccuracy: done.teacherAccuracy,
    });

    // The PyTorch-named weights are the final checkpoint's, and the saved folder scores what the run reported.
    const weights = parseSafetensors(new Uint8Array(fs.readFileSync(done.files.safetensors)));
    const last = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(out, 'checkpoints', 'epoch-0002.safetensors'))));
    expect(Object.keys(weights.tensors).sort()).toEqual(Object.keys(last.tensors).sort());
    expect(Buffer.from(weights.tensors['conv1.weight'].data.buffer).equals(Buffer.from(last.tensors['conv1.weight'].data.buffer))).toBe(
      true,
    );
    const scored = await cli(['evaluate', '--teacher', 'kd32', '--data', 'test4.bin', '--json']);
    expect(scored.code).toBe(EXIT.ok);
    expect(JSON.parse(scored.stdout)).toMatchObject({ accuracy: done.testAccuracy, count: 10 });
    const teacher = await cli(['evaluate', '--teacher', 't32', '--data', 'test4.bin', '--json']);
    expect(JSON.parse(teacher.stdout).accuracy).toBe(done.teacherAccuracy);
  });

  it('distills into a fresh zoo student (resnet20) and saves it with its architecture and PyTorch names', async () => {
    const { code, stdout, stderr } = await cli([
      'distill',
      '--teacher',
      't8',
      '--data',
      'd2',
      '--epochs',
      '1',
      '--batch-size',
      '2',
      '--no-augment',
      '--out',
      'kd-resnet20',
    ]);
    expect(stderr).not.toContain('natinv distill:');
    expect(code).toBe(EXIT.ok);
    expect(stderr).toMatch(/into a fresh resnet20 \(seed 0\) \(270,708 parameters\)/);
    expect(stderr).toContain('1 epoch over 2 images (1 step of 2 per epoch), T 20, no augmentation');
    const out = path.join(tmp, 'kd-resnet20');
    expect(stdout).toMatch(
      new RegExp(`^student: {2}${out.replace(/[/\\]/g, '.')}.model\\.json \\(resnet20, 1 epoch of distillation in [\\dms]+\\)$`, 'm'),
    );
    expect(stdout).toContain(`pytorch:  ${path.join(out, 'model.safetensors')}`);
    const meta = (readJson('kd-resnet20/model.json').userDefinedMetadata as { natinv: Record<string, unknown> }).natinv;
    expect(meta).toMatchObject({ name: 't8-kd-resnet20', arch: 'resnet20', featureTaps: ['layer3.2', 'layer2.2', 'layer1.2'] });
    expect(meta.normalization).toEqual({ mean: [...CIFAR_NORMALIZATION.mean], std: [...CIFAR_NORMALIZATION.std] });
    const weights = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(out, 'model.safetensors'))));
    expect(weights.tensors['linear.weight'].shape).toEqual([4, 64]);
    expect(weights.tensors['layer1.0.bn1.num_batches_tracked']).toBeDefined();
    expect(readJson('kd-resnet20/training.json')).toMatchObject({ studentArch: 'resnet20', augmentation: false, test: null });

    // A library user loads the student as a Teacher, with the metadata distill wrote.
    const { teacher: student } = await loadTeacherFolder(out);
    try {
      expect(student).toMatchObject({ name: 't8-kd-resnet20', numClasses: 4, inputShape: [8, 8, 3], featureTaps: meta.featureTaps });
      expect(student.normalization).toEqual(meta.normalization);
      expect(student.model.trainable).toBe(false);
    } finally {
      student.model.dispose();
    }
  }, 120_000);

  it('is deterministic for a seed, refuses to overwrite without --overwrite, and --no-checkpoints writes none', async () => {
    const argv = ['distill', '--teacher', 't8', '--data', 'd8', '--student', 's8', '--epochs', '1', '--batch-size', '4'];
    expect((await cli([...argv, '--seed', '3', '--out', 'det-a'])).code).toBe(EXIT.ok);
    expect((await cli([...argv, '--seed', '3', '--out', 'det-b', '--no-checkpoints'])).code).toBe(EXIT.ok);
    expect(fs.existsSync(path.join(tmp, 'det-b', 'checkpoints'))).toBe(false);
    if (BACKEND === 'cpu') {
      expect(fs.readFileSync(path.join(tmp, 'det-a', 'weights.bin')).equals(fs.readFileSync(path.join(tmp, 'det-b', 'weights.bin')))).toBe(
        true,
      );
    }
    const again = await cli([...argv, '--out', 'det-a']);
    expect(again.code).toBe(EXIT.usage);
    expect(again.stderr).toBe(
      'natinv distill: --out det-a already holds a model (model.json); pass --overwrite to replace it, or choose another --out.\n',
    );

    // --overwrite replaces the model and leaves only this run's checkpoints.
    fs.writeFileSync(path.join(tmp, 'det-a', 'checkpoints', 'epoch-0007.safetensors'), 'stale');
    const replaced = await cli([...argv, '--out', 'det-a', '--overwrite', '--seed', '4']);
    expect(replaced.code).toBe(EXIT.ok);
    expect(fs.readdirSync(path.join(tmp, 'det-a', 'checkpoints')).sort()).toEqual([
      'epoch-0001.safetensors',
      'resume-0001.safetensors',
      'resume.json',
    ]);
    expect(readJson('det-a/training.json')).toMatchObject({ seed: 4 });
  });

  it('Ctrl-C stops after the current step, saves the student as trained so far and exits 130', async () => {
    const controller = new AbortController();
    const { code, stderr } = await cli(
      ['distill', '--teacher', 't8', '--data', 'd8', '--student', 's8', '--epochs', '3', '--batch-size', '4', '--out', 'stopped'],
      { signal: controller.signal, onStderr: (text) => text.startsWith('distill epoch 1/3') && controller.abort() },
    );
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).toContain('stopped after 2 steps (1 finished epoch); the student trained so far is saved.');
    expect(stderr).not.toContain('distill epoch 2/3');
    expect(readJson('stopped/training.json')).toMatchObject({ aborted: true, epochsDone: 1, steps: 2 });
    expect(fs.existsSync(path.join(tmp, 'stopped', 'weights.bin'))).toBe(true);
  });

  it('rerun after Ctrl-C, continues after the last finished epoch and ends with the student of an uninterrupted run', async () => {
    const argv = ['distill', '--teacher', 't8', '--data', 'd8', '--student', 's8', '--epochs', '3', '--batch-size', '4'];
    expect((await cli([...argv, '--out', 'whole'])).code).toBe(EXIT.ok);
    const controller = new AbortController();
    const stopped = await cli([...argv, '--out', 'resumed'], {
      signal: controller.signal,
      onStderr: (text) => text.startsWith('distill epoch 1/3') && controller.abort(),
    });
    expect(stopped.code).toBe(EXIT.interrupted);
    const before = tf.memory().numTensors;
    const rerun = await cli([...argv, '--out', 'resumed']);
    expect(rerun.code).toBe(EXIT.ok);
    expect(tf.memory().numTensors).toBe(before);
    expect(rerun.stderr).toContain(`continuing the run in ${path.join(tmp, 'resumed')} after epoch 1`);
    expect(rerun.stderr).not.toContain('distill epoch 1/3');
    expect(rerun.stderr).toContain('distill epoch 3/3');
    expect(readJson('resumed/training.json')).toMatchObject({ aborted: false, epochsDone: 3, steps: 6 });
    expect(fs.readFileSync(path.join(tmp, 'resumed', 'weights.bin')).equals(fs.readFileSync(path.join(tmp, 'whole', 'weights.bin')))).toBe(
      true,
    );
    // A finished run is not rerun, and a stopped one is continued only with its own settings.
    expect((await cli([...argv, '--out', 'resumed'])).stderr).toContain('already holds a model (model.json)');
    const other = await cli([...argv, '--out', 'stopped', '--seed', '9']);
    expect(other.code).toBe(EXIT.usage);
    expect(other.stderr).toContain('natinv distill: --out stopped holds a stopped run of other settings; rerun it with the same options');
  });

  it('notes a dataset synthesized from another teacher', async () => {
    const { code, stderr } = await cli([
      'distill',
      '--teacher',
      't8',
      '--data',
      'd8',
      '--student',
      's8',
      '--epochs',
      '1',
      '--out',
      'other',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(stderr).not.toContain('was synthesized from');
    const renamed = { ...readJson('d8/manifest.json') };
    renamed.configuration = { ...(renamed.configuration as object), teacher: { name: 'someone-else' } };
    fs.mkdirSync(path.join(tmp, 'd8-other', 'batches'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'd8-other', 'manifest.json'), JSON.stringify(renamed));
    for (const name of fs.readdirSync(path.join(tmp, 'd8', 'batches'))) {
      fs.copyFileSync(path.join(tmp, 'd8', 'batches', name), path.join(tmp, 'd8-other', 'batches', name));
    }
    const other = await cli([
      'distill',
      '--teacher',
      't8',
      '--data',
      'd8-other',
      '--student',
      's8',
      '--epochs',
      '1',
      '--out',
      'other',
      '--overwrite',
    ]);
    expect(other.code).toBe(EXIT.ok);
    expect(other.stderr).toContain(`note: ${path.join(tmp, 'd8-other')} was synthesized from someone-else, not from t8.`);
  });
});

describe('natinv prune', () => {
  it('prunes without fine-tuning, reporting parameters and test accuracy before and after', async () => {
    const before = tf.memory().numTensors;
    const { code, stdout, stderr } = await cli([
      'prune',
      '--teacher',
      't32',
      '--ratio',
      '0.5',
      '--test',
      'test4.bin',
      '--out',
      'p32',
      '--json',
    ]);
    expect(stderr).not.toContain('natinv prune:');
    expect(code).toBe(EXIT.ok);
    expect(tf.memory().numTensors).toBe(before);
    expect(stderr).toMatch(
      /^pruned 2 conv layers: parameters 480 -> 170 \(64\.6% fewer\); test accuracy \d+\.\d\d% -> \d+\.\d\d% \(10 images, cifar10 file test4\.bin\)$/m,
    );
    const lines = events(stdout);
    expect(lines.map((e) => e.event)).toEqual(['pruned', 'done']);
    expect(lines[0]).toMatchObject({
      ratio: 0.5,
      parameters: { before: 480, after: 170 },
      layers: [
        { layer: 'conv1', filters: 4, kept: 2 },
        { layer: 'conv2', filters: 8, kept: 4 },
      ],
    });
    expect(lines[1]).toMatchObject({ fineTuning: null, aborted: false, accuracy: { fineTuned: null } });
    expect(fs.existsSync(path.join(tmp, 'p32', 'checkpoints'))).toBe(false);

    // The saved network is the smaller one, scores as reported, and carries the teacher's metadata.
    const inspect = await cli(['inspect', 'p32', '--json']);
    expect(JSON.parse(inspect.stdout)).toMatchObject({
      name: 't32-pruned-0.5',
      parameters: 170,
      numClasses: 4,
      featureTaps: ['stage2', 'stage1'],
    });
    const scored = await cli(['evaluate', '--teacher', 'p32', '--data', 'test4.bin', '--json']);
    expect(JSON.parse(scored.stdout).accuracy).toBe((lines[1].accuracy as { pruned: number }).pruned);
    const weights = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(tmp, 'p32', 'model.safetensors'))));
    expect(weights.tensors['conv1.weight'].shape).toEqual([2, 3, 3, 3]);
    expect(weights.tensors['conv2.weight'].shape).toEqual([4, 2, 3, 3]);
  });

  it('fine-tunes on a dataset folder with the target labels, one line per epoch, with checkpoints', async () => {
    const { code, stdout, stderr } = await cli([
      'prune',
      '--teacher',
      't8',
      '--ratio',
      '0.3',
      '--data',
      'd8',
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--out',
      'p8',
    ]);
    expect(stderr).not.toContain('natinv prune:');
    expect(code).toBe(EXIT.ok);
    expect(stderr).toContain("fine-tuning on the images' target labels: 2 epochs over 8 images (2 steps of 4 per epoch)");
    expect(stderr).toMatch(/^fine-tune epoch 1\/2 {2}loss \S+ {2}lr 1e-3 {2}[\dms]+ {2}ETA [\dms]+$/m);
    expect(stderr).toMatch(/^fine-tune epoch 2\/2 {2}loss \S+ {2}lr 1e-3 {2}[\dms]+$/m);
    expect(stdout).toMatch(/^pruned: {3}\S+model\.json \(\d+ of 686 parameters, fine-tuned for 2 epochs, [\dms]+\)$/m);
    expect(fs.readdirSync(path.join(tmp, 'p8', 'checkpoints')).sort()).toEqual([
      'epoch-0001.safetensors',
      'epoch-0002.safetensors',
      'resume-0002.safetensors',
      'resume.json',
    ]);
    const dataset = await readDataset(path.join(tmp, 'd8'));
    expect(readJson('p8/training.json')).toMatchObject({
      ratio: 0.3,
      fineTuning: { data: path.join(tmp, 'd8'), images: dataset.count, labels: 'targets', epochs: 2, epochsDone: 2, learningRate: 1e-3 },
    });
  });

  it("fine-tunes on the teacher's soft labels with --labels teacher and a temperature", async () => {
    const { code, stderr } = await cli([
      'prune',
      '--teacher',
      't8',
      '--data',
      'd8',
      '--labels',
      'teacher',
      '--temperature',
      '4',
      '--epochs',
      '1',
      '--out',
      'p8-kd',
      '--json',
    ]);
    expect(code).toBe(EXIT.ok);
    expect(stderr).toContain("fine-tuning on the teacher's soft labels (T 4): 1 epoch over 8 images (1 step of 8 per epoch)");
    expect(readJson('p8-kd/training.json')).toMatchObject({
      fineTuning: { labels: 'teacher', temperature: 4, history: [{ terms: { kd: expect.any(Number) } }] },
    });
  });

  it('Ctrl-C while fine-tuning saves the network as tuned so far and exits 130', async () => {
    const controller = new AbortController();
    const { code, stderr } = await cli(
      ['prune', '--teacher', 't8', '--data', 'd8', '--epochs', '3', '--batch-size', '4', '--out', 'p-stopped'],
      {
        signal: controller.signal,
        onStderr: (text) => text.startsWith('fine-tune epoch 1/3') && controller.abort(),
      },
    );
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).toContain('stopped after 2 steps of fine-tuning (1 finished epoch); the network as tuned so far is saved.');
    expect(readJson('p-stopped/training.json')).toMatchObject({ aborted: true, fineTuning: { epochsDone: 1, steps: 2 } });
  });

  it('rerun after Ctrl-C, continues the fine-tuning after the last finished epoch and ends as an uninterrupted run', async () => {
    const argv = ['prune', '--teacher', 't8', '--data', 'd8', '--epochs', '3', '--batch-size', '4'];
    expect((await cli([...argv, '--out', 'p-whole'])).code).toBe(EXIT.ok);
    const controller = new AbortController();
    const stopped = await cli([...argv, '--out', 'p-resumed'], {
      signal: controller.signal,
      onStderr: (text) => text.startsWith('fine-tune epoch 2/3') && controller.abort(),
    });
    expect(stopped.code).toBe(EXIT.interrupted);
    const rerun = await cli([...argv, '--out', 'p-resumed']);
    expect(rerun.code).toBe(EXIT.ok);
    expect(rerun.stderr).toContain('after epoch 2');
    expect(readJson('p-resumed/training.json')).toMatchObject({ aborted: false, fineTuning: { epochsDone: 3, steps: 6 } });
    expect(
      fs.readFileSync(path.join(tmp, 'p-resumed', 'weights.bin')).equals(fs.readFileSync(path.join(tmp, 'p-whole', 'weights.bin'))),
    ).toBe(true);
  });

  it('ratio 0 keeps every parameter; --exclude keeps a layer whole; pruning alone runs on wasm', async () => {
    const none = await cli(['prune', '--teacher', 't8', '--ratio', '0', '--out', 'p0', '--json']);
    expect(none.code).toBe(EXIT.ok);
    expect(events(none.stdout)[0]).toMatchObject({ parameters: { before: 686, after: 686 } });
    const excluded = await cli(['prune', '--teacher', 't8', '--exclude', 'conv1', '--out', 'p-ex', '--json']);
    expect(excluded.code).toBe(EXIT.ok);
    expect(events(excluded.stdout)[0]).toMatchObject({ layers: [{ layer: 'conv2', filters: 8, kept: 4 }] });
    const wasm = await cli(['prune', '--teacher', 't8', '--backend', 'wasm', '--out', 'p-wasm']);
    expect(wasm.stderr).not.toContain('natinv prune:');
    expect(wasm.code).toBe(EXIT.ok);
  });
});

describe('bad distill and prune command lines exit 2 with one line and no stack trace', () => {
  const d = ['distill', '--teacher', 't8', '--student', 's8'];
  const p = ['prune', '--teacher', 't8'];
  const cases: Array<[string, string[], RegExp]> = [
    [
      'a data-free option with --data',
      [...d, '--data', 'd8', '--minutes', '5'],
      /^natinv distill: --minutes applies to data-free distillation \(without --data\); with --data the images are given\.$/,
    ],
    ['distill of a missing folder', [...d, '--data', 'nope'], /^natinv distill: --data \S+nope does not exist\.$/],
    [
      'distill of a file',
      [...d, '--data', 'a-file.txt'],
      /^natinv distill: --data a-file\.txt is a file; give a dataset folder written by natinv synthesize \(it holds manifest\.json and batches\/\)\.$/,
    ],
    [
      'distill of a folder that is no dataset',
      [...d, '--data', 'not-a-dataset'],
      /^natinv distill: --data not-a-dataset is not a natinv dataset folder \(no manifest\.json\); give the --out folder of natinv synthesize\.$/,
    ],
    [
      '--test-layout without --test',
      [...d, '--data', 'd8', '--test-layout', 'cifar100'],
      /^natinv distill: --test-layout applies to a test set; give --test FILE too\.$/,
    ],
    [
      '--test-limit without --test',
      [...d, '--data', 'd8', '--test-limit', '5'],
      /^natinv distill: --test-limit applies to a test set; give --test FILE too\.$/,
    ],
    ['a missing --test', [...d, '--data', 'd8', '--test', 'nope.bin'], /^natinv distill: --test \S+nope\.bin does not exist\.$/],
    [
      'a folder as --test',
      [...d, '--data', 'd8', '--test', 'd8'],
      /^natinv distill: --test d8 is a folder; give a CIFAR binary file \(\.bin or \.bin\.gz\) such as test_batch\.bin\.gz\.$/,
    ],
    ['--lr 0', [...d, '--data', 'd8', '--lr', '0'], /^natinv distill: --lr must be greater than 0, got 0\.$/],
    ['--lr that is no number', [...d, '--data', 'd8', '--lr', 'fast'], /^natinv distill: --lr needs a number, got "fast"\.$/],
    ['negative --momentum', [...d, '--data', 'd8', '--momentum', '-0.5'], /^natinv distill: --momentum must be at least 0, got -0\.5\.$/],
    ['--temperature 0', [...d, '--data', 'd8', '--temperature', '0'], /^natinv distill: --temperature must be greater than 0, got 0\.$/],
    ['--epochs 0', [...d, '--data', 'd8', '--epochs', '0'], /^natinv distill: --epochs must be at least 1, got 0\.$/],
    [
      '--checkpoint-every with --no-checkpoints',
      [...d, '--data', 'd8', '--checkpoint-every', '2', '--no-checkpoints'],
      /^natinv distill: --checkpoint-every and --no-checkpoints contradict each other; give one of them\.$/,
    ],
    [
      '--out that is a file',
      [...d, '--data', 'd8', '--out', 'a-file.txt'],
      /^natinv distill: --out a-file\.txt is a file; the model is written to a folder\.$/,
    ],
    [
      '--out that holds a model',
      [...d, '--data', 'd8', '--out', 't8'],
      /^natinv distill: --out t8 already holds a model \(model\.json\); pass --overwrite to replace it, or choose another --out\.$/,
    ],
    [
      '--student with --student-arch',
      [...d, '--data', 'd8', '--student-arch', 'resnet20'],
      /^natinv distill: give the student either as --student \(a tfjs model folder\) or as --student-arch \(a fresh zoo network\), not both\.$/,
    ],
    [
      'an unknown --student-arch',
      ['distill', '--data', 'd8', '--student-arch', 'resnet21'],
      /^natinv distill: --student-arch: unknown value "resnet21" \(did you mean resnet\d+\?\); use one of resnet20/,
    ],
    [
      'a missing --student',
      ['distill', '--teacher', 't8', '--data', 'd8', '--student', 'nope'],
      /^natinv distill: --student \S+nope does not exist\.$/,
    ],
    [
      'a --student that is no model',
      ['distill', '--teacher', 't8', '--data', 'd8', '--student', 'not-a-dataset'],
      /^natinv distill: --student not-a-dataset is not a tfjs model folder \(model\.json \+ weights\.bin\) or model\.json\.$/,
    ],
    [
      'a student of another input size',
      ['distill', '--teacher', 't8', '--data', 'd8', '--student', 's32'],
      /^natinv distill: --student \S+s32.model\.json takes \[32, 32, 3\] inputs but the teacher's images are 8x8x3\.$/,
    ],
    [
      'a student of other classes',
      ['distill', '--teacher', 't8', '--data', 'd8', '--student', 's8c10'],
      /^natinv distill: --student \S+s8c10.model\.json gives \[10\] outputs but the teacher has 4 classes\.$/,
    ],
    [
      'a zoo student too deep for the images',
      ['distill', '--teacher', 't8', '--data', 'd8', '--student-arch', 'vgg11_bn'],
      /^natinv distill: --student-arch vgg11_bn cannot take 8x8x3 images: its layer '[\w.]+' shrinks them to nothing; use an architecture for images this small \(resnet20\.\.56\) or a dataset of larger images\.$/,
    ],
    [
      'a dataset of another image size',
      ['distill', '--teacher', 't32', '--data', 'd8', '--student', 's32'],
      /^natinv distill: the dataset d8 holds 8x8x3 images but t32 takes 32x32x3; give a dataset synthesized from this network \(or one of its input size\)\.$/,
    ],
    [
      'a CIFAR test set for an 8x8 teacher',
      [...d, '--data', 'd8', '--test', 'test4.bin'],
      /^natinv distill: --test holds 32x32x3 CIFAR images but t8 takes 8x8x3; leave --test out or give a network for CIFAR images\.$/,
    ],
    [
      'a test set with more classes than the teacher',
      ['distill', '--teacher', 't32', '--student', 's32', '--data', 'd32', '--test', 'test10.bin'],
      /^natinv distill: --test test10\.bin has label 9 but t32 has 4 classes; check --test-layout \(cifar100 for CIFAR-100 files\) or give the test set of the network's classes\.$/,
    ],
    [
      'distill on wasm',
      [...d, '--data', 'd8', '--backend', 'wasm'],
      /^natinv distill: distill trains the student, and the wasm backend cannot train convolutions \(no Conv2DBackpropFilter kernel\); use --backend tensorflow or cpu\.$/,
    ],
    [
      'distill from a teacher that does not exist',
      ['distill', '--teacher', 'nope', '--data', 'd8'],
      /^natinv distill: no such model nope; bundled teachers: cifar10-resnet20; give a bundled name/,
    ],
    [
      '--ratio 1',
      [...p, '--ratio', '1'],
      /^natinv prune: --ratio must be below 1 \(the fraction of filters removed from every prunable conv; 0\.5 removes half\), got 1\.$/,
    ],
    ['negative --ratio', [...p, '--ratio', '-0.1'], /^natinv prune: --ratio must be at least 0, got -0\.1\.$/],
    [
      '--epochs without --data',
      [...p, '--epochs', '3'],
      /^natinv prune: --epochs applies to fine-tuning; give --data DIR \(a dataset folder from natinv synthesize\) or leave --epochs out\.$/,
    ],
    [
      '--no-augment without --data',
      [...p, '--no-augment'],
      /^natinv prune: --no-augment applies to fine-tuning; give --data DIR .* or leave --no-augment out\.$/,
    ],
    [
      '--no-checkpoints without --data',
      [...p, '--no-checkpoints'],
      /^natinv prune: --no-checkpoints applies to fine-tuning; give --data DIR .* or leave --no-checkpoints out\.$/,
    ],
    ['--labels without --data', [...p, '--labels', 'teacher'], /^natinv prune: --labels applies to fine-tuning; give --data DIR/],
    [
      'an unknown --labels',
      [...p, '--data', 'd8', '--labels', 'soft'],
      /^natinv prune: --labels: unknown value "soft"; use one of targets, teacher\.$/,
    ],
    [
      '--temperature without --labels teacher',
      [...p, '--data', 'd8', '--temperature', '4'],
      /^natinv prune: --temperature applies to --labels teacher \(fine-tuning on the original network's soft labels\)\.$/,
    ],
    [
      '--exclude of a missing layer',
      [...p, '--exclude', 'conv3'],
      /^natinv prune: --exclude: the model has no layer "conv3" \(did you mean conv\d\?\); natinv inspect lists its layers\.$/,
    ],
    [
      '--exclude of a layer that is no conv',
      [...p, '--exclude', 'bn1'],
      /^natinv prune: --exclude: "bn1" is not a conv layer( \(did you mean conv\d\?\))?; natinv inspect lists its layers\.$/,
    ],
    ['prune --data of a file', [...p, '--data', 'a-file.txt'], /^natinv prune: --data a-file\.txt is a file/],
    [
      'prune --data of another image size',
      ['prune', '--teacher', 't32', '--data', 'd8'],
      /^natinv prune: the dataset d8 holds 8x8x3 images but t32 takes 32x32x3/,
    ],
    [
      'fine-tuning targets beyond the classes',
      [...p, '--data', 'd8c10'],
      /^natinv prune: the dataset \S+d8c10 has target class 9 but the network has 4 classes; give a dataset synthesized from this network, or --labels teacher\.$/,
    ],
    [
      'a test set with more classes than the network',
      ['prune', '--teacher', 't32', '--test', 'test10.bin'],
      /^natinv prune: --test test10\.bin has label 9 but t32 has 4 classes/,
    ],
    [
      'prune --out that holds a model',
      [...p, '--out', 't32'],
      /^natinv prune: --out t32 already holds a model \(model\.json\); pass --overwrite/,
    ],
    [
      'fine-tuning on wasm',
      [...p, '--data', 'd8', '--backend', 'wasm'],
      /^natinv prune: fine-tuning \(--data\) trains the pruned network, and the wasm backend cannot train convolutions \(no Conv2DBackpropFilter kernel\); use --backend tensorflow or cpu\.$/,
    ],
  ];

  it.each(cases)('%s', async (_, argv, message) => {
    expectOneLineError(await cli(argv), message, EXIT.usage);
  });

  it('with --json, a usage error is also a JSON line on stdout', async () => {
    const { code, stdout } = await cli([...p, '--ratio', '1.5', '--json']);
    expect(code).toBe(EXIT.usage);
    expect(JSON.parse(stdout.trim())).toEqual({ event: 'error', usage: true, message: expect.stringContaining('--ratio must be below 1') });
  });
});

describe('distill and prune failures exit 1 with the message', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'a dataset without a finished batch',
      ['distill', '--teacher', 't8', '--student', 's8', '--data', 'empty'],
      /^natinv distill: dataset \S+empty holds no finished batch yet; run natinv synthesize on it first\.$/m,
    ],
    [
      'a test file that is not CIFAR',
      ['distill', '--teacher', 't32', '--student', 's32', '--data', 'd32', '--test', 'broken.bin'],
      /^natinv distill: CIFAR file \S+broken\.bin: 3078 bytes is not a whole number of cifar10 records/m,
    ],
    [
      'a network pruning does not support',
      ['prune', '--teacher', 'dw'],
      /^natinv prune: pruneFilters supports plain conv\/BatchNorm networks .* layer 'dw' of class DepthwiseConv2D/m,
    ],
  ];

  it.each(cases)('%s', async (_, argv, message) => {
    expectFailure(await cli(argv), message);
  });
});

describe('training progress', () => {
  function fakeRun(isTTY: boolean): string {
    let out = '';
    let time = 0;
    const stream = { write: (t: string) => (out += t), isTTY, columns: 80 };
    const progress = new TrainingProgress(new Reporter({ stdout: stream, stderr: stream }, false), () => time, 4, 3, 'distill');
    progress.begin();
    for (let step = 1; step <= 6; step++) {
      time += 40_000;
      progress.step({ step, steps: 6, epoch: Math.ceil(step / 3), loss: 1 / step, terms: { kd: 1 / step }, learningRate: 0.1 });
      if (step % 3 === 0) {
        progress.epoch({
          epoch: step / 3,
          epochs: 2,
          step,
          steps: 6,
          loss: 1 / step,
          terms: { kd: 1 / step },
          learningRate: 0.1,
          testAccuracy: step / 10,
          seconds: 120,
        });
      }
    }
    return out;
  }

  it('on a terminal, rewrites the step line in place and ends it before each epoch line', () => {
    const out = fakeRun(true);
    expect(out).toContain('\r\x1b[2Kdistill epoch 1 step 1/6  loss 1  kd 1  0.1 img/s  ETA 3m20s');
    expect(out).toContain(
      '\r\x1b[2Kdistill epoch 1 step 3/6  loss 0.33  kd 0.33  0.1 img/s  ETA 2m00s\ndistill epoch 1/2  loss 0.33  lr 0.1  test 30.00%  2m00s  ETA 2m00s\n',
    );
    expect(out.endsWith('distill epoch 2/2  loss 0.17  lr 0.1  test 60.00%  2m00s\n')).toBe(true);
  });

  it('elsewhere, prints a step line at most every 30 seconds, never right before the epoch line', () => {
    const lines = fakeRun(false).trim().split('\n');
    expect(lines).toEqual([
      'distill epoch 1 step 1/6  loss 1  kd 1  0.1 img/s  ETA 3m20s',
      'distill epoch 1 step 2/6  loss 0.5  kd 0.5  0.1 img/s  ETA 2m40s',
      'distill epoch 1/2  loss 0.33  lr 0.1  test 30.00%  2m00s  ETA 2m00s',
      'distill epoch 2 step 4/6  loss 0.25  kd 0.25  0.1 img/s  ETA 1m20s',
      'distill epoch 2 step 5/6  loss 0.2  kd 0.2  0.1 img/s  ETA 40s',
      'distill epoch 2/2  loss 0.17  lr 0.1  test 60.00%  2m00s',
    ]);
  });
});
