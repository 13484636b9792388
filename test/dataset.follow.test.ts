/**
 * Following a dataset folder while it is written: followDataset reads every committed batch once,
 * in index order, never a temporary file, and says clearly when the run stalls or changes; distill
 * on arriving images grows its pool in step with the schedule, so the student does not depend on
 * when each batch arrived.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { batchesNeeded, ArrivingImages, PoolGrowth } from '../src/apps';
import { sampleIndices } from '../src/apps/arriving';
import { distill } from '../src/apps/distill';
import { followDataset, serializeBatch, synthesizeToFolder, writeManifest } from '../src/dataset';
import type { SynthesizedBatch } from '../src/synthesis/batch';
import type { Teacher } from '../src/models/teacher';
import { Random } from '../src/util/random';
import { asBatches, tinyNet, toyImages } from './apps.fixtures';
import { FakeTrainerOptions, fakeBatch, fakeConfiguration, fakeTrainer, makeTempDir, removeTempDir } from './dataset.fixtures';
import { tinyTeacher } from './helpers/tiny-teacher';

const TRAINER: FakeTrainerOptions = { batchSize: 4, height: 8, width: 8 };

async function collect(batches: AsyncIterable<SynthesizedBatch>): Promise<SynthesizedBatch[]> {
  const out: SynthesizedBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

let dir: string;
beforeAll(() => {
  dir = makeTempDir('follow');
});
afterAll(() => removeTempDir(dir));

describe('followDataset', () => {
  it('waits for the run to start, then reads every batch once, in index order, as two shards commit them', async () => {
    const folder = path.join(dir, 'shared');
    const planned = 9;
    const waits: number[] = [];
    const following = followDataset(folder, { pollInterval: 5, onWait: (next) => waits.push(next) });
    // A half-written batch file of an interrupted write: never read.
    fs.mkdirSync(path.join(folder, 'batches'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'batches', '.batch-000004.safetensors.1.2.abc.tmp'), new Uint8Array(100));
    const shards = [0, 1].map((index) =>
      synthesizeToFolder({
        folder,
        batches: planned,
        shard: { index, count: 2 },
        configuration: fakeConfiguration(TRAINER),
        trainer: fakeTrainer({ ...TRAINER, delayMs: 15 + 10 * index }).trainer,
      }),
    );
    const followed = await following;
    expect(followed).toBeDefined();
    const { planned: announced, batchSize, imageShape, batches } = followed as NonNullable<typeof followed>;
    expect([announced, batchSize, imageShape]).toEqual([planned, 4, [8, 8, 3]]);
    const read = await collect(batches);
    await Promise.all(shards);
    expect(read.map((b) => b.index)).toEqual([...Array(planned).keys()]);
    for (const batch of read)
      expect(Buffer.from(serializeBatch(batch)).equals(Buffer.from(serializeBatch(fakeBatch(batch.index, TRAINER))))).toBe(true);
    expect(waits[0]).toBe(0);
    expect(waits.length).toBeGreaterThan(1);
  });

  it('fails, saying what to check, when nothing new is committed for idleTimeout', async () => {
    const folder = path.join(dir, 'stalled');
    await synthesizeToFolder({ folder, batches: 2, configuration: fakeConfiguration(TRAINER), trainer: fakeTrainer(TRAINER).trainer });
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8'));
    await writeManifest(folder, { ...manifest, batches: 3 });
    const followed = await followDataset(folder, { pollInterval: 5, idleTimeout: 60 });
    await expect(collect(followed!.batches)).rejects.toThrow(
      /batch 2 of 3 has not appeared in .*stalled for 0 s; the run writing it may have stopped/,
    );
    await expect(followDataset(path.join(dir, 'never'), { pollInterval: 5, idleTimeout: 30 })).rejects.toThrow(
      /manifest.json or batch 0 has not appeared/,
    );
  });

  it('refuses a run whose plan or configuration changes while it is followed', async () => {
    const folder = path.join(dir, 'changed');
    await synthesizeToFolder({ folder, batches: 1, configuration: fakeConfiguration(TRAINER), trainer: fakeTrainer(TRAINER).trainer });
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8'));
    await writeManifest(folder, { ...manifest, batches: 3 });
    const followed = await followDataset(folder, { pollInterval: 5 });
    const iterator = followed!.batches[Symbol.asyncIterator]();
    expect((await iterator.next()).value.index).toBe(0);
    await writeManifest(folder, { ...manifest, batches: 5 });
    await expect(iterator.next()).rejects.toThrow(/changed its plan from 3 to 5 batches; follow the new run from the start/);

    await writeManifest(folder, { ...manifest, batches: 3 });
    const again = (await followDataset(folder, { pollInterval: 5 }))!.batches[Symbol.asyncIterator]();
    await again.next();
    await writeManifest(folder, { ...manifest, batches: 3, configuration: { ...manifest.configuration, method: 'other' } });
    await expect(again.next()).rejects.toThrow(
      /changed its configuration:\n {2}method: "fake" in the run followed, "other" in the folder now/,
    );
  });

  it('stops waiting when its signal aborts: undefined before batch 0, an early end after', async () => {
    const controller = new AbortController();
    const pending = followDataset(path.join(dir, 'not-yet'), { pollInterval: 1000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).resolves.toBeUndefined();

    const folder = path.join(dir, 'partial');
    await synthesizeToFolder({
      folder,
      batches: 4,
      shard: { index: 0, count: 2 },
      configuration: fakeConfiguration(TRAINER),
      trainer: fakeTrainer(TRAINER).trainer,
    });
    const later = new AbortController();
    const followed = await followDataset(folder, { pollInterval: 1000, signal: later.signal });
    const seen: number[] = [];
    const reading = (async () => {
      for await (const batch of followed!.batches) seen.push(batch.index);
    })();
    setTimeout(() => later.abort(), 20);
    await reading;
    expect(seen).toEqual([0]);
  });
});

describe('distill on arriving images', () => {
  let teacher: Teacher;
  beforeAll(() => {
    teacher = tinyTeacher({ seed: 1 });
  });
  const toy = toyImages(24, 4, 5);
  const batches = asBatches(toy.images01, toy.labels, 4);

  /** The batches, each after `delays[i]` ms. */
  function arriving(delays: readonly number[]): ArrivingImages {
    async function* source(): AsyncGenerator<SynthesizedBatch> {
      for (let i = 0; i < batches.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, delays[i] ?? 0));
        yield batches[i];
      }
    }
    return { batches: source(), planned: batches.length, batchSize: 4 };
  }

  async function run(images: ArrivingImages, growth: PoolGrowth[] = []): Promise<{ weights: Float32Array[]; steps: number }> {
    const student: tfl.LayersModel = tinyNet({ seed: 3, widths: [4, 6], name: 'student' });
    try {
      const result = await distill({
        teacher,
        student,
        images,
        epochs: 2,
        batchSize: 5,
        seed: 4,
        onPoolGrowth: (g) => void growth.push(g),
      });
      return { weights: student.weights.map((w) => Float32Array.from(w.read().dataSync())), steps: result.steps };
    } finally {
      student.dispose();
    }
  }

  it('joins batch i before the step batchesNeeded names, whatever the arrival times, and trains the same student', async () => {
    const before = tf.memory().numTensors;
    const growth: PoolGrowth[] = [];
    const fast = await run(arriving([]), growth);
    const slow = await run(arriving([30, 0, 25, 0, 40, 10]));
    // 24 planned images in minibatches of 5: 5 steps an epoch, 10 in all; 6 batches join over them.
    expect(fast.steps).toBe(10);
    expect(growth.map((g) => g.batch)).toEqual([0, 1, 2, 3, 4, 5]);
    const firstStep = (b: number): number => [...Array(10).keys()].find((s) => batchesNeeded(s, 10, 6) > b) as number;
    expect(growth.map((g) => g.step)).toEqual([0, 1, 2, 3, 4, 5].map(firstStep));
    expect(growth[5].step).toBeLessThan(10);
    fast.weights.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(slow.weights[i].buffer))).toBe(true));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('batchesNeeded grows in proportion to the schedule and reaches every planned batch at the last step', () => {
    expect([...Array(10).keys()].map((s) => batchesNeeded(s, 10, 6))).toEqual([1, 2, 2, 3, 3, 4, 5, 5, 6, 6]);
    expect(batchesNeeded(0, 3, 8)).toBe(3);
    expect(batchesNeeded(2, 3, 8)).toBe(8);
  });

  it('draws distinct pool images for a minibatch', () => {
    const random = new Random(1);
    for (const [n, k] of [
      [10, 10],
      [100, 7],
      [5, 1],
    ]) {
      const picked = sampleIndices(n, k, random);
      expect(new Set(picked).size).toBe(k);
      expect(Math.max(...picked)).toBeLessThan(n);
    }
  });

  it('fails clearly when the arriving batches end before the plan, or a batch has another size', async () => {
    async function* short(): AsyncGenerator<SynthesizedBatch> {
      yield batches[0];
      yield batches[1];
    }
    const student = tinyNet({ seed: 3, widths: [4, 6], name: 'student' });
    await expect(
      distill({ teacher, student, images: { batches: short(), planned: 6, batchSize: 4 }, epochs: 1, batchSize: 4 }),
    ).rejects.toThrow(/the arriving images ended after 2 of 6 planned batches/);
    async function* odd(): AsyncGenerator<SynthesizedBatch> {
      yield* asBatches(toy.images01, toy.labels, 3);
    }
    await expect(
      distill({ teacher, student, images: { batches: odd(), planned: 8, batchSize: 4 }, epochs: 1, batchSize: 4 }),
    ).rejects.toThrow(/arriving batch 0 holds 3 images, not the announced 4/);
    await expect(distill({ teacher, student, images: { batches: odd(), planned: 0, batchSize: 4 }, epochs: 1 })).rejects.toThrow(
      /images.planned must be a positive integer, got 0/,
    );
    student.dispose();
  });

  it('stops with aborted: true when the signal aborts while a batch is awaited', async () => {
    const controller = new AbortController();
    // Like followDataset: asked for batch 1, it is aborted while waiting and ends early.
    async function* stalls(): AsyncGenerator<SynthesizedBatch> {
      yield batches[0];
      controller.abort();
    }
    const student = tinyNet({ seed: 3, widths: [4, 6], name: 'student' });
    const result = await distill({
      teacher,
      student,
      images: { batches: stalls(), planned: 6, batchSize: 4 },
      epochs: 1,
      batchSize: 4,
      signal: controller.signal,
    });
    expect(result.aborted).toBe(true);
    expect(result.steps).toBe(1);
    student.dispose();
  });
});
