/**
 * Interruption evidence: the same `natinv synthesize` run made four ways, then compared file by
 * file, byte for byte, with an uninterrupted reference run.
 *
 * - killed: SIGKILL at random moments, rerun the same command after each kill, until it ends;
 * - sharded: two shards (--shard 0/2, 1/2) writing one folder at the same time, one of them
 *   killed once and rerun;
 * - disk full: the folder on a tmpfs too small for the run (the run must fail with a message),
 *   then the tmpfs enlarged and the same command rerun. Needs root (mount); skipped otherwise.
 *
 *   NATINV_BACKEND=tensorflow npm run bench:kill-resume -- [--batches 12] [--kills 10]
 *     [--batch-size 4] [--steps 10] [--seed 1] [--work build-tsc/kill-resume]
 *
 * Prints one JSON object (also <work>/kill-resume.json): per scenario the processes started,
 * kills, batches, files compared, files that differ or are missing, temp files left behind; the
 * manifest is compared on its configuration and finished list (its timestamps differ by nature).
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { machine, positive, writeJsonAtomic } from './common';
import { Random } from '../src/util/random';
import { backendFromEnv } from '../src/runtime/backend';

interface Args {
  batches: number;
  kills: number;
  batchSize: number;
  steps: number;
  seed: number;
  work: string;
}

interface Scenario {
  processes: number;
  kills: number;
  batches: number;
  filesCompared: number;
  differences: string[];
  tempFilesLeft: string[];
  notes: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { batches: 12, kills: 10, batchSize: 4, steps: 10, seed: 1, work: 'build-tsc/kill-resume' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value.`);
    if (flag === '--batches') args.batches = positive(flag, value);
    else if (flag === '--kills') args.kills = positive(flag, value);
    else if (flag === '--batch-size') args.batchSize = positive(flag, value);
    else if (flag === '--steps') args.steps = positive(flag, value);
    else if (flag === '--seed') args.seed = positive(flag, value);
    else if (flag === '--work') args.work = value;
    else throw new Error(`unknown flag ${flag}; see the header of bench/kill-resume.ts.`);
  }
  return args;
}

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'build-tsc/bench/kill-resume-cli.js');

function bundleCli(): void {
  // The executable as users get it (one bundle of src/cli/main.ts), next to the bench's bundle.
  const esbuild = require('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    entryPoints: [path.join(ROOT, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    packages: 'external',
    outfile: CLI,
    logLevel: 'warning',
  });
}

function synthesizeArgs(args: Args, out: string, extra: string[] = []): string[] {
  return [
    CLI,
    'synthesize',
    '--method',
    'di',
    '--batches',
    String(args.batches),
    '--batch-size',
    String(args.batchSize),
    '--steps',
    String(args.steps),
    '--seed',
    String(args.seed),
    '--backend',
    backendFromEnv(),
    '--out',
    out,
    ...extra,
  ];
}

function start(argv: string[]): { child: ChildProcess; exit: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exit };
}

async function runToEnd(argv: string[]): Promise<{ code: number | null; stderr: string }> {
  return start(argv).exit;
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? listFiles(path.join(dir, entry.name), path.join(prefix, entry.name)) : [path.join(prefix, entry.name)],
    )
    .sort();
}

/** Compares `folder` with the reference: every file byte for byte, the manifest on what it means. */
function compare(reference: string, folder: string, scenario: Scenario): void {
  const expected = listFiles(reference);
  const found = listFiles(folder);
  scenario.tempFilesLeft = found.filter((f) => f.endsWith('.tmp'));
  for (const name of new Set([...expected, ...found])) {
    if (name.endsWith('.tmp')) continue;
    scenario.filesCompared += 1;
    const a = path.join(reference, name);
    const b = path.join(folder, name);
    if (!fs.existsSync(a) || !fs.existsSync(b)) {
      scenario.differences.push(`${name}: only in ${fs.existsSync(a) ? 'the reference' : 'this run'}`);
    } else if (name === 'manifest.json') {
      const [ma, mb] = [a, b].map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as { configuration: unknown; finished: number[] });
      if (JSON.stringify([ma.configuration, ma.finished]) !== JSON.stringify([mb.configuration, mb.finished])) {
        scenario.differences.push(`${name}: configuration or finished list differ`);
      }
    } else if (!fs.readFileSync(a).equals(fs.readFileSync(b))) {
      scenario.differences.push(`${name}: bytes differ`);
    }
  }
  scenario.batches = fs.readdirSync(path.join(folder, 'batches')).filter((n) => n.endsWith('.safetensors')).length;
}

function emptyScenario(): Scenario {
  return { processes: 0, kills: 0, batches: 0, filesCompared: 0, differences: [], tempFilesLeft: [], notes: [] };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Kills the run at random moments (up to `kills` times), then lets it finish. */
async function killed(args: Args, out: string, batchMs: number, random: Random): Promise<Scenario> {
  const scenario = emptyScenario();
  for (;;) {
    const { child, exit } = start(synthesizeArgs(args, out));
    scenario.processes += 1;
    if (scenario.kills >= args.kills) {
      const { code, stderr } = await exit;
      if (code !== 0) throw new Error(`the final run exited ${code}: ${stderr}`);
      return scenario;
    }
    // Start-up takes a few seconds; kill anywhere from during start-up to two batches in.
    const delay = (0.3 + 0.7 * random.next()) * (2 * batchMs + 3000);
    const outcome = await Promise.race([exit, sleep(delay).then(() => undefined)]);
    if (outcome !== undefined) {
      if (outcome.code !== 0) throw new Error(`a run exited ${outcome.code}: ${outcome.stderr}`);
      return scenario;
    }
    child.kill('SIGKILL');
    await exit;
    scenario.kills += 1;
  }
}

/** Two shards into one folder at once; shard 1 killed once and rerun. */
async function sharded(args: Args, out: string, batchMs: number): Promise<Scenario> {
  const scenario = emptyScenario();
  const zero = start(synthesizeArgs(args, out, ['--shard', '0/2']));
  const one = start(synthesizeArgs(args, out, ['--shard', '1/2']));
  scenario.processes += 2;
  await sleep(3000 + 1.5 * batchMs);
  one.child.kill('SIGKILL');
  await one.exit;
  scenario.kills += 1;
  const again = await runToEnd(synthesizeArgs(args, out, ['--shard', '1/2']));
  scenario.processes += 1;
  const first = await zero.exit;
  if (first.code !== 0 || again.code !== 0) throw new Error(`a shard failed: ${first.stderr}${again.stderr}`);
  return scenario;
}

/** The folder on a small tmpfs: the run must fail saying why; enlarged, the rerun completes. */
async function diskFull(args: Args, out: string, referenceBytes: number): Promise<Scenario> {
  const scenario = emptyScenario();
  fs.mkdirSync(out, { recursive: true });
  const size = (bytes: number): string => `size=${Math.ceil(bytes / 4096) * 4096}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', size(referenceBytes * 0.4), 'tmpfs', out], { stdio: 'pipe' });
  } catch (cause) {
    scenario.notes.push(`skipped: cannot mount a tmpfs (${(cause as Error).message.split('\n')[0]})`);
    return scenario;
  }
  try {
    const full = await runToEnd(synthesizeArgs(args, out));
    scenario.processes += 1;
    const message = full.stderr.trim().split('\n').pop() ?? '';
    scenario.notes.push(`on a full disk: exit ${full.code}, "${message}"`);
    if (full.code === 0) throw new Error('the run on a too small disk succeeded');
    execFileSync('mount', ['-o', `remount,${size(referenceBytes * 3)}`, out], { stdio: 'pipe' });
    const resumed = await runToEnd(synthesizeArgs(args, out));
    scenario.processes += 1;
    if (resumed.code !== 0) throw new Error(`the resumed run exited ${resumed.code}: ${resumed.stderr}`);
    const copy = `${out}-copy`;
    fs.rmSync(copy, { recursive: true, force: true });
    fs.cpSync(out, copy, { recursive: true });
    return scenario;
  } finally {
    execFileSync('umount', [out], { stdio: 'pipe' });
  }
}

function folderBytes(dir: string): number {
  return listFiles(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = path.resolve(ROOT, args.work);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  bundleCli();
  const reference = path.join(work, 'reference');
  const began = Date.now();
  const ref = await runToEnd(synthesizeArgs(args, reference));
  if (ref.code !== 0) throw new Error(`the reference run failed: ${ref.stderr}`);
  const batchMs = (Date.now() - began) / args.batches;
  const random = new Random(args.seed);
  const scenarios: Record<string, Scenario> = {};

  scenarios.killed = await killed(args, path.join(work, 'killed'), batchMs, random);
  compare(reference, path.join(work, 'killed'), scenarios.killed);
  scenarios.sharded = await sharded(args, path.join(work, 'sharded'), batchMs);
  compare(reference, path.join(work, 'sharded'), scenarios.sharded);
  const diskFullFolder = path.join(work, 'disk-full');
  scenarios.diskFull = await diskFull(args, diskFullFolder, folderBytes(reference));
  if (scenarios.diskFull.processes > 0) compare(reference, `${diskFullFolder}-copy`, scenarios.diskFull);

  const result = {
    bench: 'kill-resume',
    machine: machine(backendFromEnv()),
    settings: args,
    referenceBatchSeconds: batchMs / 1000,
    scenarios,
  };
  await writeJsonAtomic(path.join(work, 'kill-resume.json'), result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/kill-resume: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
