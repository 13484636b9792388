/**
 * Sharding a run over several processes or machines: shard i of n owns the batch indices with
 * index % n === i. Each shard can write its own folder (then mergeDatasets) or share one.
 */

/** Which part of a run a process owns. */
export interface Shard {
  /** 0 .. count - 1. */
  index: number;
  /** Number of shards, at least 1. */
  count: number;
}

/** Every batch: shard 0 of 1. */
export const WHOLE_RUN: Shard = Object.freeze({ index: 0, count: 1 });

/** Throws, saying what is wrong, unless `shard` is a valid {index, count}; `where` prefixes the message. */
export function validateShard(shard: Shard, where: string): Shard {
  const { index, count } = shard;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`${where}: the shard count must be a positive integer, got ${count}.`);
  }
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new Error(`${where}: the shard index must be a non-negative integer, got ${index}.`);
  }
  if (index >= count) {
    throw new Error(
      `${where}: shard index ${index} is out of range for ${count} shard${count === 1 ? '' : 's'}; indices run 0..${count - 1}.`,
    );
  }
  return { index, count };
}

/** True when batch `batchIndex` belongs to `shard`. */
export function ownsBatch(shard: Shard, batchIndex: number): boolean {
  return batchIndex % shard.count === shard.index;
}

/** The batch indices of a run of `batches` batches that `shard` makes, in order. */
export function shardBatches(shard: Shard, batches: number): number[] {
  const owned: number[] = [];
  for (let i = shard.index; i < batches; i += shard.count) owned.push(i);
  return owned;
}

const DECIMAL = /^(0|[1-9]\d*)$/;

/**
 * Parses a `--shard i/n` flag value (`0/4`, `3/4`). Throws a clear error for anything else:
 * missing slash, non-integers, negative numbers, n < 1, i >= n.
 */
export function parseShard(text: string): Shard {
  const parts = text.trim().split('/');
  if (parts.length !== 2) {
    throw new Error(`--shard expects i/n (this process's index and the number of shards, e.g. 0/4), got ${JSON.stringify(text)}.`);
  }
  const [i, n] = parts.map((p) => p.trim());
  if (!DECIMAL.test(i) || !DECIMAL.test(n)) {
    throw new Error(`--shard expects two non-negative integers i/n (e.g. 0/4), got ${JSON.stringify(text)}.`);
  }
  return validateShard({ index: Number(i), count: Number(n) }, `--shard ${text.trim()}`);
}

/**
 * The shard of a Kubernetes indexed job (`completionMode: Indexed`): `JOB_COMPLETION_INDEX` is
 * the index (set by Kubernetes), `NATINV_SHARD_COUNT` the number of shards (set it to the job's
 * `completions`). Neither set: the whole run (0 of 1). Only one set, non-integers or an index out
 * of range: a clear error.
 *
 * @param env Environment variables. Default `process.env`.
 */
export function shardFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): Shard {
  const rawIndex = env.JOB_COMPLETION_INDEX;
  const rawCount = env.NATINV_SHARD_COUNT;
  const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
  if (!set(rawIndex) && !set(rawCount)) return { ...WHOLE_RUN };
  if (!set(rawCount)) {
    throw new Error(
      `JOB_COMPLETION_INDEX is ${JSON.stringify(rawIndex)} but NATINV_SHARD_COUNT is not set; set NATINV_SHARD_COUNT ` +
        "to the number of shards (the job's spec.completions).",
    );
  }
  if (!set(rawIndex)) {
    throw new Error(
      `NATINV_SHARD_COUNT is ${JSON.stringify(rawCount)} but JOB_COMPLETION_INDEX is not set; run as a Kubernetes ` +
        'indexed job (completionMode: Indexed), or give the shard with --shard i/n instead.',
    );
  }
  const number = (name: string, v: string): number => {
    if (!DECIMAL.test(v.trim())) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}.`);
    return Number(v.trim());
  };
  return validateShard(
    { index: number('JOB_COMPLETION_INDEX', rawIndex), count: number('NATINV_SHARD_COUNT', rawCount) },
    `JOB_COMPLETION_INDEX=${rawIndex.trim()} with NATINV_SHARD_COUNT=${rawCount.trim()}`,
  );
}
