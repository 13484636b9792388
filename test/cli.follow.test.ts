/**
 * `natinv distill --follow` in-process on tiny networks: a batch event per batch joining the pool,
 * the same student whether the pool was complete or still being written, and the usage errors of
 * its options.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXIT } from '../src/cli/io';
import { tinyNet } from './apps.fixtures';
import { cliRunner, expectOneLineError, saveTinyFolder } from './helpers/cli';
import { tinyTeacher } from './helpers/tiny-teacher';

let tmp: string;
const cli = cliRunner(() => tmp);

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const SYNTHESIZE = ['synthesize', '--teacher', 't8', '--method', 'di', '--steps', '2', '--batch-size', '2', '--batches', '4', '--no-png'];
const DISTILL = ['distill', '--teacher', 't8', '--student', 's8', '--epochs', '2', '--batch-size', '3', '--no-checkpoints', '--json'];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-follow-'));
  await saveTinyFolder(tinyTeacher({ seed: 1 }).model, path.join(tmp, 't8'));
  await saveTinyFolder(tinyNet({ seed: 5, numClasses: 4 }), path.join(tmp, 's8'), false);
  const made = await cli([...SYNTHESIZE, '--out', 'pool']);
  if (made.code !== EXIT.ok) throw new Error(`fixture pool: ${made.stderr}`);
  fs.writeFileSync(path.join(tmp, 'a-file'), '');
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('natinv distill --follow', () => {
  it('reports each batch joining the pool once, records follow in training.json, and trains as on a pool written meanwhile', async () => {
    const done = await cli([...DISTILL, '--data', 'pool', '--follow', '--out', 'k-done']);
    expect(done.code).toBe(EXIT.ok);
    const joined = events(done.stdout).filter((e) => e.event === 'batch');
    expect(joined.map((e) => e.index)).toEqual([0, 1, 2, 3]);
    expect(joined.map((e) => e.planned)).toEqual([4, 4, 4, 4]);
    const training = JSON.parse(fs.readFileSync(path.join(tmp, 'k-done', 'training.json'), 'utf8'));
    expect(training).toMatchObject({ follow: true, images: 8, steps: 6 });

    // The same run, started before the synthesis: it waits for batches and ends with the same weights.
    const following = cli([...DISTILL, '--data', 'later', '--follow', '--out', 'k-live']);
    const made = await cli([...SYNTHESIZE, '--out', 'later']);
    expect(made.code).toBe(EXIT.ok);
    const live = await following;
    expect(live.code).toBe(EXIT.ok);
    expect(live.stderr).toMatch(/waiting for the first batch in \S+later/);
    expect(
      events(live.stdout)
        .filter((e) => e.event === 'batch')
        .map((e) => e.index),
    ).toEqual([0, 1, 2, 3]);
    const weights = (name: string): Buffer => fs.readFileSync(path.join(tmp, name, 'weights.bin'));
    expect(weights('k-live').equals(weights('k-done'))).toBe(true);
  });

  it.each([
    [['--data', 'pool', '--follow-timeout', '5'], /--follow-timeout only applies with --follow; add --follow or drop it\.$/],
    [['--data', 'pool', '--follow', '--follow-timeout', '0'], /--follow-timeout must be greater than 0 minutes, got 0\.$/],
    [['--data', 'a-file', '--follow'], /--data a-file is a file; give the dataset folder natinv synthesize writes/],
    [['--follow'], /--follow needs --data DIR, the dataset folder the synthesis writes\.$/],
  ])('refuses %j', async (argv, message) => {
    expectOneLineError(await cli(['distill', '--teacher', 't8', ...argv]), message, EXIT.usage);
  });
});
