/**
 * A run killed with SIGKILL while writing, then rerun to completion: every batch present exactly
 * once, every batch file parses, half-written temp files never count.
 *
 * The child process is this repository's TypeScript bundled by esbuild (the bundler under tsup;
 * no ts-node or tsx here) into a temp folder, with its packages resolved through NODE_PATH.
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  batchFilePath,
  batchImagesPath,
  finishedBatches,
  readBatch,
  readManifest,
  serializeBatch,
  synthesizeToFolder,
} from '../src/dataset';
import { FakeTrainerOptions, fakeBatch, fakeConfiguration, fakeTrainer, makeTempDir, removeTempDir } from './dataset.fixtures';
import { bundleScript, spawnCli } from './helpers/child-cli';

const ROOT = path.resolve(__dirname, '..');
const BATCHES = 30;
const TRAINER: FakeTrainerOptions = { batchSize: 8, height: 16, width: 16, delayMs: 5 };

const CHILD = `
import { synthesizeToFolder } from './src/dataset';
import { fakeConfiguration, fakeTrainer } from './test/dataset.fixtures';
const [folder, batches, options] = process.argv.slice(2);
const trainerOptions = JSON.parse(options);
synthesizeToFolder({
  folder,
  batches: Number(batches),
  configuration: fakeConfiguration(trainerOptions),
  trainer: fakeTrainer(trainerOptions).trainer,
  onBatch: (batch) => process.stdout.write('wrote ' + batch.index + '\\n'),
}).then(() => process.stdout.write('finished\\n'), (error) => { console.error(error); process.exit(1); });
`;

/** Starts the child; resolves once it has written `afterBatches` batches and was then killed. */
function runAndKill(script: string, folder: string, afterBatches: number): Promise<{ reported: number; finished: boolean }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawnCli(script, [folder, String(BATCHES), JSON.stringify(TRAINER)], ROOT);
    let reported = 0;
    let finished = false;
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      reported += (text.match(/wrote \d+/g) ?? []).length;
      if (text.includes('finished')) finished = true;
      // A few milliseconds into the next batch's writes: PNGs, grid or batch file in flight.
      if (reported >= afterBatches && killTimer === undefined) killTimer = setTimeout(() => child.kill('SIGKILL'), 8);
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ reported, finished });
      else reject(new Error(`child exited with code ${code} before it was killed:\n${stderr}`));
    });
  });
}

describe('kill -9 during a run', () => {
  let dir: string;
  let child: { script: string; remove: () => void };
  beforeAll(() => {
    dir = makeTempDir('kill');
    child = bundleScript('kill-child', { contents: CHILD });
  });
  afterAll(() => {
    removeTempDir(dir);
    child.remove();
  });

  it('resumes to exactly one copy of every batch', async () => {
    const { script } = child;
    const folder = path.join(dir, 'dataset');
    const { reported, finished } = await runAndKill(script, folder, 3);
    expect(finished).toBe(false);

    // What the kill left: committed batches parse, nothing is corrupt (writes are atomic).
    const after = await finishedBatches(folder);
    expect(after.finished.length).toBeGreaterThanOrEqual(reported);
    expect(after.finished.length).toBeLessThan(BATCHES);
    expect(after.corrupt).toEqual([]);
    expect((await readManifest(folder)).configuration).toEqual(fakeConfiguration(TRAINER));

    // Make sure a half-written temp file is present whatever instant the kill hit.
    const next = [...Array(BATCHES).keys()].find((i) => !after.finished.includes(i)) as number;
    const half = path.join(folder, 'batches', `.batch-${String(next).padStart(6, '0')}.safetensors.99999.1.abc.tmp`);
    fs.writeFileSync(half, serializeBatch(fakeBatch(next, TRAINER)).subarray(0, 1000));
    const planted = await finishedBatches(folder);
    expect(planted.finished).toEqual(after.finished);
    expect(planted.temporary).toContain(half);

    const { trainer, calls } = fakeTrainer({ ...TRAINER, delayMs: 0 });
    const summary = await synthesizeToFolder({ folder, batches: BATCHES, configuration: fakeConfiguration(TRAINER), trainer });
    const missing = [...Array(BATCHES).keys()].filter((i) => !after.finished.includes(i));
    expect(calls).toEqual([missing]);
    expect(summary.written).toEqual(missing);
    expect(summary.skipped).toEqual(after.finished);

    const names = fs.readdirSync(path.join(folder, 'batches')).sort();
    expect(names).toEqual([...Array(BATCHES).keys()].map((i) => `batch-${String(i).padStart(6, '0')}.safetensors`));
    for (let i = 0; i < BATCHES; i++) {
      const batch = await readBatch(batchFilePath(folder, i), { expectedIndex: i });
      expect(Buffer.from(serializeBatch(batch)).equals(Buffer.from(serializeBatch(fakeBatch(i, TRAINER))))).toBe(true);
      expect(fs.readdirSync(batchImagesPath(folder, i))).toHaveLength(TRAINER.batchSize as number);
    }
    expect((await readManifest(folder)).finished).toEqual([...Array(BATCHES).keys()]);
    const grids = fs.readdirSync(path.join(folder, 'grids'));
    expect(grids.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(grids).toHaveLength(BATCHES);
  });
});
