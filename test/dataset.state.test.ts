import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { batchStatePath, readDataset, stateTrainer, synthesizeToFolder } from '../src/dataset';
import { fastSynthesizer, FastInversionOptions, Teacher } from '../src/node';
import { makeTempDir, removeTempDir } from './dataset.fixtures';
import { tinyTeacher } from './helpers/tiny-teacher';

const tiny: FastInversionOptions = { batchSize: 4, innerSteps: 2, seed: 11, generator: { latentSize: 6, baseWidth: 4 } };
const configuration = { method: 'fastInversion', batchSize: 4, innerSteps: 2, seed: 11 };

async function run(teacher: Teacher, folder: string, batches: number, stopAfter?: number, shard = { index: 0, count: 1 }) {
  const synthesizer = fastSynthesizer(teacher, tiny);
  const controller = new AbortController();
  let made = 0;
  try {
    return await synthesizeToFolder({
      folder,
      batches,
      shard,
      configuration,
      png: false,
      grid: false,
      trainer: stateTrainer(synthesizer, { folder, shard }),
      signal: controller.signal,
      onBatch: () => {
        made += 1;
        if (made === stopAfter) controller.abort();
      },
    });
  } finally {
    synthesizer.dispose();
  }
}

async function images(folder: string): Promise<number[][]> {
  const dataset = await readDataset(folder);
  return dataset.batches.map((b) => Array.from(b.images));
}

describe('stateTrainer', () => {
  let dir: string;
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher();
  });
  beforeEach(() => {
    dir = makeTempDir('state');
  });
  afterEach(() => removeTempDir(dir));

  test('a run stopped and rerun in a new synthesizer equals an uninterrupted one, batch for batch', async () => {
    const whole = path.join(dir, 'whole');
    const resumed = path.join(dir, 'resumed');
    const start = tf.memory().numTensors;
    await run(teacher, whole, 4);
    const first = await run(teacher, resumed, 4, 2);
    expect(first.aborted).toBe(true);
    expect(first.written).toEqual([0, 1]);
    expect(fs.readdirSync(path.join(resumed, 'state')).sort()).toEqual(['batch-000000.safetensors', 'batch-000001.safetensors']);
    const second = await run(teacher, resumed, 4);
    expect(second.written).toEqual([2, 3]);
    expect(await images(resumed)).toEqual(await images(whole));
    // Only the last two states are kept.
    expect(fs.readdirSync(path.join(resumed, 'state')).sort()).toEqual(['batch-000002.safetensors', 'batch-000003.safetensors']);
    expect(fs.existsSync(batchStatePath(resumed, 3))).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
  });

  test('each shard carries its own state through its own batches', async () => {
    const folder = path.join(dir, 'sharded');
    await run(teacher, folder, 4, undefined, { index: 1, count: 2 });
    await run(teacher, folder, 4, undefined, { index: 0, count: 2 });
    const sharded = await images(folder);
    // Shard 1's first batch (index 1) starts from the initial generator, as batch 0 does.
    const single = path.join(dir, 'single');
    await run(teacher, single, 2);
    const [, second] = await images(single);
    expect(sharded[1]).not.toEqual(second);
    expect(sharded).toHaveLength(4);
  });

  test('a missing state is a clear error, not a silently different run', async () => {
    const folder = path.join(dir, 'broken');
    await run(teacher, folder, 2);
    fs.rmSync(path.join(folder, 'state'), { recursive: true });
    await expect(run(teacher, folder, 3)).rejects.toThrow(/state saved after batch 1.*overwrite/);
  });
});
