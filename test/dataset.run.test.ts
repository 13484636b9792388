import * as fs from 'fs';
import * as path from 'path';
import {
  batchFilePath,
  batchGridPath,
  batchImagesPath,
  finishedBatches,
  mergeDatasets,
  parseShard,
  readDataset,
  readManifest,
  serializeBatch,
  shardFromEnv,
  synthesizeToFolder,
} from '../src/dataset';
import { fakeBatch, fakeConfiguration, fakeTrainer, makeTempDir, removeTempDir } from './dataset.fixtures';

function batchFiles(folder: string): string[] {
  return fs.readdirSync(path.join(folder, 'batches')).sort();
}

/** Every file under `folder` except the manifest (which holds timestamps), relative path -> bytes. */
function contents(folder: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const entry of fs.readdirSync(folder, { recursive: true }) as string[]) {
    const file = path.join(folder, entry);
    if (entry !== 'manifest.json' && fs.statSync(file).isFile()) out.set(entry, fs.readFileSync(file));
  }
  return out;
}

describe('synthesizeToFolder', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('run');
  });
  afterEach(() => removeTempDir(dir));

  it('writes every batch, its manifest and its progress', async () => {
    const { trainer, calls } = fakeTrainer();
    const progress: string[] = [];
    const folder = path.join(dir, 'out');
    const summary = await synthesizeToFolder({
      folder,
      batches: 3,
      configuration: fakeConfiguration(),
      trainer,
      onBatch: (batch, p) => progress.push(`${batch.index}:${p.done}/${p.total}`),
    });
    expect(summary).toEqual({ written: [0, 1, 2], skipped: [], corrupt: [], aborted: false });
    expect(calls).toEqual([[0, 1, 2]]);
    expect(progress).toEqual(['0:1/3', '1:2/3', '2:3/3']);
    const manifest = await readManifest(folder);
    expect(manifest).toMatchObject({
      format: 'natinv-dataset',
      version: 2,
      batches: 3,
      batchSize: 4,
      imageShape: [8, 8, 3],
      finished: [0, 1, 2],
    });
    expect(manifest.configuration).toEqual(fakeConfiguration());
    expect(Date.parse(manifest.updated)).toBeGreaterThanOrEqual(Date.parse(manifest.created));
    expect(fs.readFileSync(batchFilePath(folder, 1))).toEqual(Buffer.from(serializeBatch(fakeBatch(1))));
    expect(fs.existsSync(batchGridPath(folder, 2))).toBe(true);
    expect(fs.readdirSync(batchImagesPath(folder, 2))).toHaveLength(4);

    // A rerun has nothing to do and does not call the trainer.
    const again = fakeTrainer();
    expect(await synthesizeToFolder({ folder, batches: 3, configuration: fakeConfiguration(), trainer: again.trainer })).toEqual({
      written: [],
      skipped: [0, 1, 2],
      corrupt: [],
      aborted: false,
    });
    expect(again.calls).toEqual([]);
  });

  it('resumes after an abort: the rerun asks only for the missing batches', async () => {
    const controller = new AbortController();
    const first = fakeTrainer();
    const summary = await synthesizeToFolder({
      folder: dir,
      batches: 6,
      configuration: fakeConfiguration(),
      trainer: first.trainer,
      signal: controller.signal,
      onBatch: (_, p) => {
        if (p.done === 2) controller.abort();
      },
    });
    expect(summary).toEqual({ written: [0, 1], skipped: [], corrupt: [], aborted: true });
    expect((await readManifest(dir)).finished).toEqual([0, 1]);

    const second = fakeTrainer();
    const rest = await synthesizeToFolder({ folder: dir, batches: 6, configuration: fakeConfiguration(), trainer: second.trainer });
    expect(second.calls).toEqual([[2, 3, 4, 5]]);
    expect(rest).toEqual({ written: [2, 3, 4, 5], skipped: [0, 1], corrupt: [], aborted: false });
    expect(batchFiles(dir)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `batch-00000${i}.safetensors`));
    const dataset = await readDataset(dir, { requireComplete: true });
    expect(dataset.count).toBe(24);
    dataset.batches.forEach((b, i) => expect(Buffer.from(serializeBatch(b))).toEqual(Buffer.from(serializeBatch(fakeBatch(i)))));
  });

  it('reports an abort signalled before the start without calling the trainer', async () => {
    const { trainer, calls } = fakeTrainer();
    const summary = await synthesizeToFolder({
      folder: dir,
      batches: 2,
      configuration: fakeConfiguration(),
      trainer,
      signal: AbortSignal.abort(),
    });
    expect(summary.aborted).toBe(true);
    expect(calls).toEqual([]);
  });

  it('treats a trainer stopping by throwing on abort as an abort, and lets it clean up', async () => {
    const controller = new AbortController();
    let cleaned = false;
    async function* trainer(indices: number[], signal?: AbortSignal) {
      try {
        for (const index of indices) {
          if (index === 1) controller.abort();
          if (signal?.aborted === true) throw new Error('The operation was aborted');
          yield fakeBatch(index);
        }
      } finally {
        cleaned = true;
      }
    }
    const summary = await synthesizeToFolder({
      folder: dir,
      batches: 3,
      configuration: fakeConfiguration(),
      trainer,
      signal: controller.signal,
    });
    expect(summary).toEqual({ written: [0], skipped: [], corrupt: [], aborted: true });
    expect(cleaned).toBe(true);

    let stopped = false;
    async function* endless(indices: number[]) {
      try {
        for (const index of indices) yield fakeBatch(index);
      } finally {
        stopped = true;
      }
    }
    const stop = new AbortController();
    const second = await synthesizeToFolder({
      folder: dir,
      batches: 3,
      configuration: fakeConfiguration(),
      trainer: endless,
      signal: stop.signal,
      onBatch: () => stop.abort(),
    });
    expect(second).toEqual({ written: [1], skipped: [0], corrupt: [], aborted: true });
    expect(stopped).toBe(true);
  });

  it('keeps the batches of a trainer that crashed, and a rerun makes only the rest', async () => {
    const crashing = fakeTrainer({ failAfter: 3 });
    await expect(
      synthesizeToFolder({ folder: dir, batches: 5, configuration: fakeConfiguration(), trainer: crashing.trainer }),
    ).rejects.toThrow('trainer crashed');
    expect((await finishedBatches(dir)).finished).toEqual([0, 1, 2]);
    const second = fakeTrainer();
    await synthesizeToFolder({ folder: dir, batches: 5, configuration: fakeConfiguration(), trainer: second.trainer });
    expect(second.calls).toEqual([[3, 4]]);
    expect((await finishedBatches(dir)).finished).toEqual([0, 1, 2, 3, 4]);
    expect((await readManifest(dir)).finished).toEqual([0, 1, 2, 3, 4]);
  });

  it('redoes a corrupt batch file of its own and removes leftover temp files', async () => {
    await synthesizeToFolder({ folder: dir, batches: 3, configuration: fakeConfiguration(), trainer: fakeTrainer().trainer });
    fs.writeFileSync(batchFilePath(dir, 1), fs.readFileSync(batchFilePath(dir, 1)).subarray(0, 64));
    const temp = path.join(dir, 'batches', '.batch-000002.safetensors.1.2.x.tmp');
    fs.rmSync(batchFilePath(dir, 2));
    fs.writeFileSync(temp, 'half');
    const again = fakeTrainer();
    const summary = await synthesizeToFolder({ folder: dir, batches: 3, configuration: fakeConfiguration(), trainer: again.trainer });
    expect(again.calls).toEqual([[1, 2]]);
    expect(summary).toEqual({ written: [1, 2], skipped: [0], corrupt: [1], aborted: false });
    expect(fs.existsSync(temp)).toBe(false);
    expect((await finishedBatches(dir)).corrupt).toEqual([]);
  });

  it('refuses a folder holding a different configuration, naming the keys, unless overwrite', async () => {
    await synthesizeToFolder({ folder: dir, batches: 2, configuration: fakeConfiguration(), trainer: fakeTrainer().trainer });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    const changed = { ...fakeConfiguration(), teacher: 'resnet20', options: { seed: 7, batchSize: 4, steps: 500 } };
    const { trainer, calls } = fakeTrainer();
    const attempt = synthesizeToFolder({ folder: dir, batches: 2, configuration: changed, trainer });
    await expect(attempt).rejects.toThrow(/already holds a dataset made with a different configuration/);
    await expect(synthesizeToFolder({ folder: dir, batches: 2, configuration: changed, trainer })).rejects.toThrow(
      /options\.steps: 3 in the folder, 500 in this run\n {2}teacher: "none" in the folder, "resnet20" in this run\n.*overwrite: true/,
    );
    expect(calls).toEqual([]);

    // Same configuration with keys in another order is the same run.
    const reordered = { options: { steps: 3, batchSize: 4, seed: 7 }, ...fakeConfiguration() };
    expect((await synthesizeToFolder({ folder: dir, batches: 2, configuration: reordered, trainer })).skipped).toEqual([0, 1]);

    const summary = await synthesizeToFolder({ folder: dir, batches: 2, configuration: changed, trainer, overwrite: true });
    expect(summary.written).toEqual([0, 1]);
    expect((await readManifest(dir)).configuration).toMatchObject({ teacher: 'resnet20' });
    expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
    // overwrite only replaces another run: the same run resumes.
    const same = fakeTrainer();
    expect(
      (await synthesizeToFolder({ folder: dir, batches: 3, configuration: changed, trainer: same.trainer, overwrite: true })).skipped,
    ).toEqual([0, 1]);
    expect(same.calls).toEqual([[2]]);
    await expect(synthesizeToFolder({ folder: dir, batches: 3, configuration: changed, trainer, batchSize: 8 })).rejects.toThrow(
      /holds batches of 4 images but this run makes batches of 8/,
    );
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{ not json');
    await expect(synthesizeToFolder({ folder: dir, batches: 3, configuration: changed, trainer })).rejects.toThrow(
      /manifest\.json is not valid JSON[^]*pass overwrite: true to delete the old batches/,
    );
  });

  it('never mixes two runs in one folder', async () => {
    const configuration = fakeConfiguration();
    await synthesizeToFolder({ folder: dir, batches: 2, configuration, trainer: fakeTrainer().trainer });
    // The same configuration with a trainer of another run (here another seed): refused at its first batch.
    const other = synthesizeToFolder({ folder: dir, batches: 3, configuration, trainer: fakeTrainer({ seed: 8 }).trainer });
    await expect(other).rejects.toThrow(
      /batch 2 was made by fake of none \(seed 8, 3 steps\) but the batches in .* by fake of none \(seed 7, 3 steps\); a dataset folder holds one run/,
    );
    expect((await finishedBatches(dir)).finished).toEqual([0, 1]);

    // Without PNGs is another run than with them.
    const bare = path.join(dir, 'bare');
    await synthesizeToFolder({ folder: bare, batches: 1, configuration, trainer: fakeTrainer().trainer, png: false, grid: false });
    const withPngs = synthesizeToFolder({ folder: bare, batches: 2, configuration, trainer: fakeTrainer().trainer });
    await expect(withPngs).rejects.toThrow(/different configuration:\n {2}grid: false in the folder, absent in this run\n {2}png: false/);
    expect((await readManifest(bare)).configuration).toMatchObject({ png: false, grid: false });
  });

  it('leaves a folder reusable when the run fails before its first batch', async () => {
    const failing = fakeTrainer({ failAfter: 0 });
    await expect(
      synthesizeToFolder({ folder: dir, batches: 2, configuration: fakeConfiguration(), trainer: failing.trainer }),
    ).rejects.toThrow('trainer crashed');
    expect(fs.existsSync(path.join(dir, 'manifest.json'))).toBe(false);
    // The corrected command, with another configuration, starts there without overwrite.
    const corrected = { ...fakeConfiguration(), teacher: 'fixed' };
    const summary = await synthesizeToFolder({ folder: dir, batches: 2, configuration: corrected, trainer: fakeTrainer().trainer });
    expect(summary.written).toEqual([0, 1]);
    // A failure after batches were written keeps the manifest that describes them.
    const later = synthesizeToFolder({ folder: dir, batches: 4, configuration: corrected, trainer: fakeTrainer({ failAfter: 0 }).trainer });
    await expect(later).rejects.toThrow('trainer crashed');
    expect((await readManifest(dir)).finished).toEqual([0, 1]);
  });

  it('says so when the folder is a file', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    await expect(
      synthesizeToFolder({ folder: file, batches: 1, configuration: fakeConfiguration(), trainer: fakeTrainer().trainer }),
    ).rejects.toThrow(`synthesizeToFolder: ${file} is a file, not a folder; give the path of a folder (it is created if missing).`);
  });

  it('refuses non-JSON configurations, unowned folders and misbehaving trainers', async () => {
    const { trainer } = fakeTrainer();
    await expect(synthesizeToFolder({ folder: dir, batches: 2, configuration: { lr: () => 1 }, trainer })).rejects.toThrow(
      /configuration\.lr is a function; the configuration must be plain JSON/,
    );
    await expect(synthesizeToFolder({ folder: dir, batches: 2, configuration: { steps: Number.NaN }, trainer })).rejects.toThrow(
      /configuration\.steps is NaN/,
    );
    await expect(
      synthesizeToFolder({ folder: dir, batches: 2, configuration: {}, trainer, shard: { index: 2, count: 2 } }),
    ).rejects.toThrow(/shard index 2 is out of range for 2 shards; indices run 0\.\.1/);

    const orphan = path.join(dir, 'orphan');
    fs.mkdirSync(path.join(orphan, 'batches'), { recursive: true });
    fs.writeFileSync(batchFilePath(orphan, 0), serializeBatch(fakeBatch(0)));
    await expect(synthesizeToFolder({ folder: orphan, batches: 2, configuration: {}, trainer })).rejects.toThrow(
      /has batch files but no manifest\.json/,
    );

    const wrong = async function* () {
      yield fakeBatch(0);
      yield fakeBatch(5);
    };
    await expect(synthesizeToFolder({ folder: path.join(dir, 'w'), batches: 2, configuration: {}, trainer: wrong })).rejects.toThrow(
      /the trainer yielded batch 5 but it was not asked for \(asked for 0, 1\)/,
    );
    const twice = async function* () {
      yield fakeBatch(0);
      yield fakeBatch(0);
    };
    await expect(synthesizeToFolder({ folder: path.join(dir, 't'), batches: 2, configuration: {}, trainer: twice })).rejects.toThrow(
      /yielded batch 0 a second time/,
    );
    const short = async function* () {
      yield fakeBatch(0);
    };
    await expect(synthesizeToFolder({ folder: path.join(dir, 's'), batches: 3, configuration: {}, trainer: short })).rejects.toThrow(
      /ended without yielding batches 1, 2/,
    );
    const mixed = async function* () {
      yield fakeBatch(0);
      yield fakeBatch(1, { batchSize: 2 });
    };
    await expect(synthesizeToFolder({ folder: path.join(dir, 'm'), batches: 2, configuration: {}, trainer: mixed })).rejects.toThrow(
      /batch 1 has 2 images but the dataset's batches have 4/,
    );
  });
});

describe('shards', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('shards');
  });
  afterEach(() => removeTempDir(dir));

  it('shards 0/2 and 1/2, merged, equal a single run byte for byte', async () => {
    const batches = 5;
    const single = path.join(dir, 'single');
    await synthesizeToFolder({ folder: single, batches, configuration: fakeConfiguration(), trainer: fakeTrainer().trainer });
    const shardCalls: number[][] = [];
    for (const index of [0, 1]) {
      const { trainer, calls } = fakeTrainer();
      await synthesizeToFolder({
        folder: path.join(dir, `shard${index}`),
        batches,
        shard: { index, count: 2 },
        configuration: fakeConfiguration(),
        trainer,
      });
      shardCalls.push(...calls);
    }
    expect(shardCalls).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
    const merged = path.join(dir, 'merged');
    const summary = await mergeDatasets([path.join(dir, 'shard0'), path.join(dir, 'shard1')], merged);
    expect(summary).toEqual({ copied: [0, 1, 2, 3, 4], present: [], duplicates: [], missing: [] });

    const expected = contents(single);
    const actual = contents(merged);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [file, bytes] of expected) expect({ file, same: actual.get(file)?.equals(bytes) }).toEqual({ file, same: true });
    const manifest = await readManifest(merged);
    expect(manifest).toMatchObject({ batches, batchSize: 4, imageShape: [8, 8, 3], finished: [0, 1, 2, 3, 4] });
    expect(manifest.configuration).toEqual((await readManifest(single)).configuration);

    // Merging again, or with an overlapping identical copy, changes nothing.
    const again = await mergeDatasets([path.join(dir, 'shard1'), single], merged);
    expect(again).toEqual({ copied: [], present: [0, 1, 2, 3, 4], duplicates: [0, 1, 2, 3, 4], missing: [] });
    // An incomplete set of shards merges, and says what is missing.
    expect((await mergeDatasets([path.join(dir, 'shard1')], path.join(dir, 'partial'))).missing).toEqual([0, 2, 4]);
  });

  it('lets shards share one folder', async () => {
    const runs = [0, 1, 2].map((index) => {
      const { trainer, calls } = fakeTrainer({ delayMs: 1 });
      return {
        calls,
        done: synthesizeToFolder({ folder: dir, batches: 7, shard: { index, count: 3 }, configuration: fakeConfiguration(), trainer }),
      };
    });
    await Promise.all(runs.map((r) => r.done));
    expect(runs.map((r) => r.calls)).toEqual([[[0, 3, 6]], [[1, 4]], [[2, 5]]]);
    const dataset = await readDataset(dir, { requireComplete: true });
    expect(dataset.batches.map((b) => b.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('refuses different configurations and conflicting duplicates, writing nothing', async () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    const c = path.join(dir, 'c');
    await synthesizeToFolder({
      folder: a,
      batches: 2,
      shard: { index: 0, count: 2 },
      configuration: fakeConfiguration(),
      trainer: fakeTrainer().trainer,
    });
    await synthesizeToFolder({
      folder: b,
      batches: 2,
      shard: { index: 1, count: 2 },
      configuration: fakeConfiguration({ seed: 8 }),
      trainer: fakeTrainer({ seed: 8 }).trainer,
    });
    const target = path.join(dir, 'target');
    await expect(mergeDatasets([a, b], target)).rejects.toThrow(
      new RegExp(`${b} was made with a different configuration than ${a}:\\n {2}options\\.seed: 7 in ${a}, 8 in ${b}`),
    );
    expect(fs.existsSync(target)).toBe(false);

    // Same configuration, but batch 0 holds other bytes (as if made by other code).
    await synthesizeToFolder({ folder: c, batches: 2, configuration: fakeConfiguration(), trainer: fakeTrainer({ seed: 9 }).trainer });
    await expect(mergeDatasets([a, c], target)).rejects.toThrow(
      /batch 0 differs between .*a.batches.batch-000000\.safetensors and .*c.batches/,
    );
    expect(fs.existsSync(target)).toBe(false);

    await expect(mergeDatasets([a, path.join(dir, 'nothing')], target)).rejects.toThrow(/no manifest\.json in .*nothing/);
    fs.writeFileSync(batchFilePath(a, 0), 'garbage');
    await expect(mergeDatasets([a], target)).rejects.toThrow(/batch-000000\.safetensors is corrupt .*delete it and rerun/);
  });
});

describe('parseShard and shardFromEnv', () => {
  it('parses i/n', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 });
    expect(parseShard(' 3 / 4 ')).toEqual({ index: 3, count: 4 });
  });

  it('explains bad --shard values', () => {
    expect(() => parseShard('4/4')).toThrow('--shard 4/4: shard index 4 is out of range for 4 shards; indices run 0..3.');
    expect(() => parseShard('1.5/4')).toThrow(/two non-negative integers i\/n \(e\.g\. 0\/4\), got "1\.5\/4"/);
    expect(() => parseShard('-1/4')).toThrow(/non-negative integers/);
    expect(() => parseShard('0/0')).toThrow(/the shard count must be a positive integer, got 0/);
    expect(() => parseShard('3')).toThrow(/expects i\/n/);
    expect(() => parseShard('1/2/3')).toThrow(/expects i\/n/);
  });

  it('reads Kubernetes indexed jobs', () => {
    expect(shardFromEnv({})).toEqual({ index: 0, count: 1 });
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '2', NATINV_SHARD_COUNT: '3' })).toEqual({ index: 2, count: 3 });
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '2' })).toThrow(
      /NATINV_SHARD_COUNT is not set; set NATINV_SHARD_COUNT to the number of shards/,
    );
    expect(() => shardFromEnv({ NATINV_SHARD_COUNT: '3' })).toThrow(/JOB_COMPLETION_INDEX is not set; run as a Kubernetes indexed job/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '3', NATINV_SHARD_COUNT: '3' })).toThrow(
      /shard index 3 is out of range for 3 shards/,
    );
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: 'x', NATINV_SHARD_COUNT: '3' })).toThrow(
      /JOB_COMPLETION_INDEX must be a non-negative integer, got "x"/,
    );
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '0', NATINV_SHARD_COUNT: '2.5' })).toThrow(
      /NATINV_SHARD_COUNT must be a non-negative integer/,
    );
  });
});
