/**
 * Ctrl-C on a real `natinv` process: the run stops after the current step (not after the batch),
 * keeps every finished batch and exits 130; a second Ctrl-C while a finished batch is being saved
 * waits for the save. Bounds are counted in the run's own step times, never in fixed seconds.
 */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { batchFilePath, finishedBatches } from '../src/dataset';
import { EXIT } from '../src/cli/io';
import { BACKEND, saveTinyFolder, tiny32 } from './helpers/cli';
import { bundleCli, onLines, spawnCli } from './helpers/child-cli';

interface StepEvent {
  event: 'step';
  batch: number;
  step: number;
}

let tmp: string;
let cli: ReturnType<typeof bundleCli>;
const children: ChildProcess[] = [];
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-interrupt-'));
  cli = bundleCli('interrupt');
  await saveTinyFolder(tiny32(0, 10), path.join(tmp, 'teacher'));
});
afterAll(() => {
  // A failed expectation must not leave a run behind.
  children.forEach((child) => child.exitCode === null && child.kill('SIGKILL'));
  fs.rmSync(tmp, { recursive: true, force: true });
  cli.remove();
});

/** A DI run of tiny-teacher batches with --json, so the test sees every step as it happens. */
function start(out: string, batches: number, steps: number, batchSize: number): ChildProcess {
  const args = ['synthesize', '--method', 'di', '--teacher', path.join(tmp, 'teacher'), '--batches', String(batches)];
  return spawnCli(
    cli.script,
    [...args, '--batch-size', String(batchSize), '--steps', String(steps), '--out', out, '--json', '--backend', BACKEND],
    tmp,
  );
}

/** Resolves with the exit code and stderr; `onStep` sees every step event with the time it arrived. */
function watch(child: ChildProcess, onStep: (event: StepEvent, at: number) => void): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  onLines(child.stdout, (line) => {
    const event = JSON.parse(line) as { event: string };
    if (event.event === 'step') onStep(event as StepEvent, Date.now());
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('Ctrl-C on a natinv process', () => {
  it('stops within a few steps, not at the end of the batch, and keeps the finished batch', async () => {
    const child = start('one-sigint', 2, 40, 4);
    children.push(child);
    const times: number[] = [];
    let sentAt = 0;
    const { code, stderr } = await watch(child, (event, at) => {
      if (event.batch === 1) times.push(at);
      if (event.batch === 1 && event.step === 3 && sentAt === 0) {
        sentAt = Date.now();
        child.kill('SIGINT');
      }
    });
    const exitedAfter = Date.now() - sentAt;
    const stepMs = median(times.slice(1).map((t, i) => t - times[i]));
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).toContain('stopping after the current step');
    expect(stderr).toContain('stopped: 1 batch written this time');
    // At most the step in progress, then the exit; 37 steps were left in the batch.
    expect(times.length).toBeLessThanOrEqual(5);
    expect(exitedAfter).toBeLessThan(1000 + 20 * stepMs);
    const folder = path.join(tmp, 'one-sigint');
    expect((await finishedBatches(folder)).finished).toEqual([0]);
  });

  it('a second Ctrl-C while a finished batch is being saved waits for the save', async () => {
    const child = start('two-sigints', 3, 5, 32);
    children.push(child);
    const { code, stderr } = await watch(child, (event) => {
      // Right after batch 1's last step: the batch is complete and about to be written.
      if (event.batch === 1 && event.step === 5) {
        child.kill('SIGINT');
        child.kill('SIGINT');
      }
    });
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).not.toMatch(/\n\s+at /);
    const folder = path.join(tmp, 'two-sigints');
    const found = await finishedBatches(folder);
    expect(found.finished).toEqual([0, 1]);
    expect(found.corrupt).toEqual([]);
    expect(fs.existsSync(batchFilePath(folder, 2))).toBe(false);
  });
});
