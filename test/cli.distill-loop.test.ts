/**
 * `natinv distill` without --data (the data-free loop) on tiny networks: what it writes, Ctrl-C
 * then a rerun of the same command, a process killed with SIGKILL mid-run then rerun (the same
 * student as an uninterrupted run, bit for bit), and bad command lines. Also `natinv distill
 * --data` killed the same way: its rerun continues after the last finished epoch.
 *
 * The killed process is the CLI bundled by esbuild (as in dataset.kill.test.ts) into build-tsc/test.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EXIT } from '../src/cli/io';
import { tinyNet } from './apps.fixtures';
import { BACKEND, cliRunner, expectOneLineError, saveTinyFolder, tiny32, writeCifar } from './helpers/cli';
import { bundleCli, spawnCli } from './helpers/child-cli';
import { tinyTeacher } from './helpers/tiny-teacher';

let tmp: string;
const cli = cliRunner(() => tmp);

// A few rounds of DeepInversion (1 step a batch) and KD on 8x8 images: every file, fast.
const LOOP = ['distill', '--teacher', 't8', '--student', 's8', '--method', 'di', '--images-per-round', '4', '--synthesis-steps', '1'];
const SMALL = ['--kd-steps', '2', '--batch-size', '4', '--checkpoint-minutes', '0'];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-loop-'));
  await saveTinyFolder(tinyTeacher({ seed: 1 }).model, path.join(tmp, 't8'), true);
  await saveTinyFolder(tinyNet({ seed: 5, numClasses: 4 }), path.join(tmp, 's8'), false);
  await saveTinyFolder(tinyNet({ seed: 6, numClasses: 10 }), path.join(tmp, 's8c10'), false);
  await saveTinyFolder(tiny32(11, 4), path.join(tmp, 't32'), true);
  await saveTinyFolder(tiny32(21, 4), path.join(tmp, 's32'), false);
  const plain = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [8, 8, 3] }), tfl.layers.dense({ units: 4 })] });
  await saveTinyFolder(plain, path.join(tmp, 'nobn'), true);
  writeCifar(path.join(tmp, 'test4.bin'), [0, 1, 2, 3, 3, 2, 1, 0]);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const read = (file: string): Buffer => fs.readFileSync(path.join(tmp, file));

test('a data-free run writes the student, the pool, training.json with accuracy over time, the chart and JSON events', async () => {
  const before = tf.memory().numTensors;
  const argv = ['distill', '--teacher', 't32', '--student', 's32', '--method', 'di', '--images-per-round', '4', '--synthesis-steps', '1'];
  const { code, stdout, stderr } = await cli([
    ...argv,
    ...SMALL,
    '--rounds',
    '3',
    '--test',
    'test4.bin',
    '--evaluate-every',
    '2',
    '--out',
    'run',
    '--json',
  ]);
  expect(stderr).toMatch(/round 3\/3 {2}kd \S+ {2}pool 12 {2}test \d+\.\d\d%/);
  expect(code).toBe(EXIT.ok);
  expect(tf.memory().numTensors).toBe(before);
  const events = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; [key: string]: unknown });
  expect(events.map((e) => e.event)).toEqual(['start', 'round', 'round', 'round', 'done']);
  const training = JSON.parse(read('run/training.json').toString()) as Record<string, unknown>;
  expect(training).toMatchObject({ roundsDone: 3, imagesSynthesized: 12, kdStepsDone: 6, aborted: false, method: 'di' });
  expect((training.accuracyOverTime as Array<{ round: number }>).map((e) => e.round)).toEqual([2, 3]);
  for (const file of ['model.json', 'weights.bin', 'model.safetensors', 'accuracy.png', 'pool/manifest.json', 'checkpoint.json']) {
    expect(fs.existsSync(path.join(tmp, 'run', file))).toBe(true);
  }
  expect(read('run/accuracy.png').subarray(1, 4).toString()).toBe('PNG');
  expect(fs.readdirSync(path.join(tmp, 'run/pool/batches')).filter((n) => n.endsWith('.safetensors'))).toHaveLength(3);
});

test('Ctrl-C saves a usable student and exits 130; the same command then continues to the uninterrupted student', async () => {
  const whole = await cli([...LOOP, ...SMALL, '--rounds', '4', '--out', 'whole']);
  expect(whole.code).toBe(EXIT.ok);
  const controller = new AbortController();
  const stopped = await cli([...LOOP, ...SMALL, '--rounds', '4', '--out', 'parts'], {
    signal: controller.signal,
    onStderr: (text) => text.startsWith('round 2/4') && controller.abort(),
  });
  expect(stopped.code).toBe(EXIT.interrupted);
  expect(stopped.stderr).toContain('Rerun the same command to continue');
  expect(JSON.parse(read('parts/training.json').toString())).toMatchObject({ roundsDone: 2, aborted: true });
  expect(fs.existsSync(path.join(tmp, 'parts/model.json'))).toBe(true);
  const continued = await cli([...LOOP, ...SMALL, '--rounds', '4', '--out', 'parts']);
  expect(continued.code).toBe(EXIT.ok);
  expect(continued.stderr).toContain('continuing the run');
  expect(read('parts/model.safetensors').equals(read('whole/model.safetensors'))).toBe(true);
});

/** Runs the bundled CLI to its end, or kills it with SIGKILL a few ms after it reports round `killAfter`. */
/** Runs the bundled CLI; with `killAfter`, SIGKILLs it 30 ms after its stderr first holds that text. */
function runCli(script: string, argv: string[], killAfter?: string): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(script, argv, tmp, { NATINV_BACKEND: BACKEND });
    child.stdout?.resume();
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (killAfter !== undefined && timer === undefined && stderr.includes(killAfter)) {
        // Round `killAfter` is reported before its checkpoint is written: the kill lands in that write
        // or in the next round (its synthesis or its KD steps).
        timer = setTimeout(() => child.kill('SIGKILL'), 30);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ killed: true, stderr });
      else if (code === 0) resolve({ killed: false, stderr });
      else reject(new Error(`natinv exited with ${code}:\n${stderr}`));
    });
  });
}

test('killed with SIGKILL mid-run, the rerun command ends with the same student as an uninterrupted run', async () => {
  const { script, remove } = bundleCli('distill-loop-kill');
  try {
    const argv = [...LOOP, ...SMALL, '--rounds', '6', '--backend', BACKEND];
    await runCli(script, [...argv, '--out', 'straight']);
    const killed = await runCli(script, [...argv, '--out', 'killed'], 'round 2/');
    expect(killed.killed).toBe(true);
    expect(fs.existsSync(path.join(tmp, 'killed/checkpoint.json'))).toBe(true);
    const rerun = await runCli(script, [...argv, '--out', 'killed']);
    // A kill inside round 2's checkpoint write resumes after round 1.
    expect(rerun.stderr).toMatch(/continuing the run in \S+ after round [1-5]/);
    expect(read('killed/model.safetensors').equals(read('straight/model.safetensors'))).toBe(true);
  } finally {
    remove();
  }
});

test('distill --data killed with SIGKILL mid-run: the rerun continues after the last finished epoch and ends with the same student', async () => {
  const made = await cli([
    'synthesize',
    '--method',
    'di',
    '--steps',
    '1',
    '--no-png',
    '--teacher',
    't8',
    '--batch-size',
    '8',
    '--out',
    'd8',
  ]);
  expect(made.code).toBe(EXIT.ok);
  const { script, remove } = bundleCli('distill-data-kill');
  try {
    const argv = ['distill', '--teacher', 't8', '--student', 's8', '--data', 'd8', '--epochs', '40', '--batch-size', '4'];
    await runCli(script, [...argv, '--out', 'data-straight']);
    const killed = await runCli(script, [...argv, '--out', 'data-killed'], 'distill epoch 2/40');
    expect(killed.killed).toBe(true);
    const rerun = await runCli(script, [...argv, '--out', 'data-killed']);
    expect(rerun.stderr).toMatch(/continuing the run in \S+ after epoch (\d+)/);
    const after = Number(/after epoch (\d+)/.exec(rerun.stderr)?.[1]);
    expect(after).toBeGreaterThanOrEqual(1);
    expect(after).toBeLessThan(40);
    expect(read('data-killed/model.safetensors').equals(read('data-straight/model.safetensors'))).toBe(true);
  } finally {
    remove();
  }
});

describe('bad data-free command lines get one clear line', () => {
  const cases: Array<[string, string[], RegExp, number]> = [
    [
      'a budget of 0',
      [...LOOP, '--minutes', '0'],
      /--minutes must be greater than 0 \(a budget of 0 leaves no time to train\)\.$/,
      EXIT.usage,
    ],
    [
      'both budgets',
      [...LOOP, '--minutes', '5', '--rounds', '2'],
      /give --minutes \(a time budget\) or --rounds \(a round count\), not both\.$/,
      EXIT.usage,
    ],
    ['--epochs without --data', [...LOOP, '--epochs', '3'], /--epochs applies to distillation on a dataset folder \(--data\)/, EXIT.usage],
    [
      'a student with other classes',
      ['distill', '--teacher', 't8', '--student', 's8c10', '--rounds', '1'],
      /--student \S+ gives \[10\] outputs but the teacher has 4 classes\.$/,
      EXIT.usage,
    ],
    [
      'a student of another input size',
      ['distill', '--teacher', 't8', '--student', 's32', '--rounds', '1'],
      /--student \S+ takes \[32, 32, 3\] inputs but the teacher's images are 8x8x3\.$/,
      EXIT.usage,
    ],
    [
      'a teacher without BatchNorm',
      ['distill', '--teacher', 'nobn', '--student', 's8', '--rounds', '1'],
      /--method fast matches the teacher's BatchNorm statistics, but \S+ has no BatchNormalization layer/,
      EXIT.usage,
    ],
  ];
  it.each(cases)('%s', async (_, argv, message, code) => {
    expectOneLineError(await cli([...argv, '--out', 'never']), message, code);
  });
});
