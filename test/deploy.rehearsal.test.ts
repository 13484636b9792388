/**
 * A local rehearsal of deploy/: the Indexed Job's semantics played with processes. The synthesis
 * and distillation command lines are the manifests' own, scaled down (a tiny teacher and student,
 * a few batches and steps). N shard processes get JOB_COMPLETION_INDEX and NATINV_SHARD_COUNT as
 * Kubernetes and the manifest set them; one is killed mid-batch with SIGKILL and started again with
 * the same index, as the Job retries it; a `distill --follow` process runs meanwhile. The shared
 * pool must equal a single-process run byte for byte, and the follower must have taken every batch
 * exactly once (and trained the same student as a follower started after the pool was complete).
 *
 * The processes run this repository's CLI bundled by esbuild, as in the kill test.
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { OptionValue, parseArgs } from '../src/cli/args';
import { EXIT } from '../src/cli/io';
import { COMMANDS } from '../src/cli/run';
import { tinyNet } from './apps.fixtures';
import { BACKEND, cliRunner, saveTinyFolder } from './helpers/cli';
import { bundleCli, spawnCli } from './helpers/child-cli';
import { tinyTeacher } from './helpers/tiny-teacher';

const ROOT = path.resolve(__dirname, '..');
const SHARDS = 3;
const BATCHES = 6;
const STEPS = 20;
const VICTIM = 1;

type Options = Record<string, OptionValue>;

/** The container args of a deploy/ manifest, parsed by the command's own spec. */
function manifestCommand(file: string): { command: string; options: Options; env: Record<string, string> } {
  const job = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'deploy', file), 'utf8'))[0].toJS();
  const container = job.spec.template.spec.containers[0];
  const [command, ...rest] = container.args as string[];
  const spec = COMMANDS.find((c) => c.spec.name === command)?.spec;
  if (spec === undefined) throw new Error(`${file}: ${command} is not a natinv command`);
  const env = Object.fromEntries(((container.env ?? []) as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
  return { command, options: { ...parseArgs(spec, rest).options }, env };
}

/** Options back to a command line. */
function toArgv(command: string, options: Options): string[] {
  const spec = COMMANDS.find((c) => c.spec.name === command)?.spec;
  const argv = [command];
  for (const [name, value] of Object.entries(options)) {
    const option = spec?.options.find((o) => o.name === name);
    if (option === undefined) throw new Error(`natinv ${command} has no --${name}`);
    if (option.kind === 'flag') {
      if (value !== (option.negatable !== true)) continue;
      argv.push(option.negatable === true ? `--no-${name}` : `--${name}`);
    } else {
      argv.push(`--${name}`, Array.isArray(value) ? value.join(',') : String(value));
    }
  }
  return argv;
}

// Children still running when the test ends (it failed): killed in afterAll.
const running = new Set<ChildProcess>();

interface Child {
  process: ChildProcess;
  events: Array<Record<string, unknown>>;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the bundled CLI; its stdout JSON lines are collected and passed to `onEvent` as they come. */
function start(
  script: string,
  argv: string[],
  env: Record<string, string>,
  onEvent?: (event: Record<string, unknown>, child: ChildProcess) => void,
): Child {
  const child = spawnCli(script, argv, tmp, { NATINV_BACKEND: BACKEND, ...env });
  running.add(child);
  const events: Array<Record<string, unknown>> = [];
  let pending = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() as string;
    for (const line of lines.filter((l) => l.trim() !== '')) {
      const event = JSON.parse(line) as Record<string, unknown>;
      events.push(event);
      onEvent?.(event, child);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return { process: child, events, stderr: () => stderr, exit };
}

/** Every file under `folder`, relative, sorted. */
function listFiles(folder: string, prefix = ''): string[] {
  return fs
    .readdirSync(path.join(folder, prefix), { withFileTypes: true })
    .flatMap((entry) => {
      const relative = path.join(prefix, entry.name);
      return entry.isDirectory() ? listFiles(folder, relative) : [relative];
    })
    .sort();
}

let tmp: string;
let cliBundle: { script: string; remove: () => void };
const cli = cliRunner(() => tmp);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-rehearsal-'));
  await saveTinyFolder(tinyTeacher({ seed: 1 }).model, path.join(tmp, 't8'));
  await saveTinyFolder(tinyNet({ seed: 5, numClasses: 4 }), path.join(tmp, 's8'), false);
  cliBundle = bundleCli('rehearsal');
}, 120_000);
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
  cliBundle.remove();
});

describe('deploy/ rehearsed with processes', () => {
  it('shards (one killed mid-batch and retried) fill the pool exactly as one process does; the follower takes every batch once', async () => {
    const synthesis = manifestCommand('synthesize.yaml');
    const distillation = manifestCommand('distill.yaml');
    const synthesize = (out: string): string[] =>
      // DeepInversion: NaturalInversion's generator costs seconds a step on cpu, and the method does not matter here.
      toArgv('synthesize', {
        ...synthesis.options,
        method: 'di',
        teacher: 't8',
        batches: BATCHES,
        'batch-size': 2,
        steps: STEPS,
        out,
        backend: BACKEND,
      });
    const { 'student-arch': _, ...distillOptions } = distillation.options;
    const follow = (out: string): string[] =>
      toArgv('distill', {
        ...distillOptions,
        teacher: 't8',
        student: 's8',
        data: 'pool',
        'follow-timeout': 2,
        epochs: 2,
        'batch-size': 4,
        out,
        backend: BACKEND,
      });
    const { script } = cliBundle;
    // As the manifest sets it: NATINV_SHARD_COUNT is the job's completions (here SHARDS).
    expect(Object.keys(synthesis.env)).toEqual(['NATINV_SHARD_COUNT']);
    const shardEnv = (index: number): Record<string, string> => ({
      NATINV_SHARD_COUNT: String(SHARDS),
      JOB_COMPLETION_INDEX: String(index),
    });

    const follower = start(script, follow('student'), {});
    let killed = false;
    const shards = [...Array(SHARDS).keys()].map((index) =>
      start(script, synthesize('pool'), shardEnv(index), (event, child) => {
        // The victim: killed a few steps into its second batch, far from that batch's commit.
        if (index !== VICTIM || killed) return;
        const committed = shards[index]?.events.filter((e) => e.event === 'batch').length ?? 0;
        if (committed >= 1 && event.event === 'step' && (event.step as number) >= 2) {
          killed = true;
          child.kill('SIGKILL');
        }
      }),
    );
    const victim = await shards[VICTIM].exit;
    expect([victim, shards[VICTIM].stderr().match(/^natinv synthesize: .*$/m)?.[0]]).toEqual([
      { code: null, signal: 'SIGKILL' },
      undefined,
    ]);
    // Mid-batch: its first batch committed, its second (index VICTIM + SHARDS) not.
    expect(shards[VICTIM].events.filter((e) => e.event === 'batch').map((e) => e.index)).toEqual([VICTIM]);
    expect(fs.existsSync(path.join(tmp, 'pool', 'batches', `batch-${String(VICTIM + SHARDS).padStart(6, '0')}.safetensors`))).toBe(false);

    // Kubernetes retries the index: the same command and environment.
    const retry = start(script, synthesize('pool'), shardEnv(VICTIM));
    for (const shard of [...shards.filter((_, index) => index !== VICTIM), retry]) {
      const result = await shard.exit;
      expect([result.code, shard.stderr().match(/^natinv synthesize: .*$/m)?.[0]]).toEqual([EXIT.ok, undefined]);
    }
    expect(retry.stderr()).toMatch(/resuming: 1 of 2 batches already in/);
    expect(retry.events.filter((e) => e.event === 'batch').map((e) => e.index)).toEqual([VICTIM + SHARDS]);

    const followed = await follower.exit;
    expect([followed.code, follower.stderr().match(/^natinv distill: .*$/m)?.[0]]).toEqual([EXIT.ok, undefined]);
    expect(follower.stderr()).toMatch(/waiting for the first batch in/);
    // Every batch exactly once, in index order, and the run ended only after the last one.
    const joined = follower.events.filter((e) => e.event === 'batch');
    expect(joined.map((e) => e.index)).toEqual([...Array(BATCHES).keys()]);
    expect(follower.events[follower.events.length - 1]).toMatchObject({ event: 'done', follow: true, aborted: false, images: 2 * BATCHES });

    // The pool equals a single-process run, file by file and byte for byte.
    const reference = await cli(synthesize('single'), { env: { NATINV_BACKEND: BACKEND } });
    expect(reference.code).toBe(EXIT.ok);
    const pool = path.join(tmp, 'pool');
    const single = path.join(tmp, 'single');
    const files = listFiles(pool).filter((f) => f !== 'manifest.json');
    expect(files).toEqual(listFiles(single).filter((f) => f !== 'manifest.json'));
    expect(files.filter((f) => f.startsWith('batches'))).toHaveLength(BATCHES);
    for (const file of files) {
      expect([file, fs.readFileSync(path.join(pool, file)).equals(fs.readFileSync(path.join(single, file)))]).toEqual([file, true]);
    }
    const manifest = (folder: string): Record<string, unknown> => {
      const { created: _c, updated: _u, ...rest } = JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8'));
      return rest;
    };
    expect(manifest(pool)).toEqual(manifest(single));
    expect(manifest(pool).finished).toEqual([...Array(BATCHES).keys()]);

    // The follower's student does not depend on when the batches arrived.
    const after = await cli(follow('student-after'), { env: { NATINV_BACKEND: BACKEND } });
    expect(after.code).toBe(EXIT.ok);
    const weights = (name: string): Buffer => fs.readFileSync(path.join(tmp, name, 'weights.bin'));
    expect(weights('student').equals(weights('student-after'))).toBe(true);
  }, 300_000);
});
