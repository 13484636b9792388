/**
 * `natinv synthesize --method fast` on the cpu backend with tiny settings: the shared generator's
 * state travels in the run folder, so a stopped and rerun command ends with the same batches as
 * an uninterrupted one; the manifest records every setting.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readBatch, readManifest } from '../src/dataset';
import { batchFilePath } from '../src/dataset/format';
import { EXIT } from '../src/cli/io';
import { cliRunner, expectOneLineError, saveTinyFolder } from './helpers/cli';
import { tinyTeacher } from './helpers/tiny-teacher';

let tmp: string;
const cli = cliRunner(() => tmp);
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-cli-fast-'));
  // An 8x8 teacher keeps the generator small: the cpu backend's convolution gradients are slow.
  await saveTinyFolder(tinyTeacher({ seed: 1 }).model, path.join(tmp, 't8'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('natinv synthesize --method fast', () => {
  const argv = ['synthesize', '--method', 'fast', '--teacher', 't8', '--batches', '2', '--batch-size', '2', '--steps', '1', '--no-png'];

  it('stopped after batch 1 and rerun, it makes the same batches as an uninterrupted run', async () => {
    const whole = await cli([...argv, '--out', 'whole']);
    expect(whole.code).toBe(EXIT.ok);
    expect(whole.stderr).toContain('Fast inversion (a generator meta-learned across batches) on ');

    const controller = new AbortController();
    const first = await cli([...argv, '--out', 'resumed'], {
      signal: controller.signal,
      onStderr: (text) => {
        if (text.includes('batch 1/2 done')) controller.abort();
      },
    });
    expect(first.code).toBe(EXIT.interrupted);
    expect(fs.readdirSync(path.join(tmp, 'resumed', 'state'))).toEqual(['batch-000000.safetensors']);
    const second = await cli([...argv, '--out', 'resumed']);
    expect(second.code).toBe(EXIT.ok);
    expect(second.stderr).toContain('resuming: 1 of 2 batches already in');

    for (const index of [0, 1]) {
      const a = await readBatch(batchFilePath(path.join(tmp, 'whole'), index));
      const b = await readBatch(batchFilePath(path.join(tmp, 'resumed'), index));
      expect(b.method).toBe('fastInversion');
      expect(Array.from(b.images)).toEqual(Array.from(a.images));
    }
    const { configuration } = await readManifest(path.join(tmp, 'whole'));
    expect(configuration).toMatchObject({
      synthesis: { method: 'fastInversion', batchSize: 2, steps: 1, seed: 0 },
      teacher: { name: 't8', weightsSha256: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
  });

  it('--pyramid belongs to --method fast', async () => {
    const result = await cli(['synthesize', '--method', 'di', '--pyramid', '--out', 'never']);
    expectOneLineError(result, /--pyramid applies to --method fast only/, EXIT.usage);
  });
});
