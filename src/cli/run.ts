/**
 * The `natinv` command, callable in-process: `run(argv, io)` parses the words, runs the
 * subcommand and returns the exit code (0 ok, 1 runtime failure, 2 usage error, 130 interrupted),
 * printing a one-line message instead of a stack trace for every error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { findPackageRoot } from '../models/assets';
import { CommandSpec, formatHelp, formatRows, parseArgs, ParsedArgs, suggestion, UsageError } from './args';
import { CONVERT, convertCommand } from './commands/convert';
import { DISTILL, distillCommand } from './commands/distill';
import { EVALUATE, evaluateCommand } from './commands/evaluate';
import { INSPECT, inspectCommand } from './commands/inspect';
import { MERGE, mergeCommand } from './commands/merge';
import { PRUNE, pruneCommand } from './commands/prune';
import { SYNTHESIZE, synthesizeCommand } from './commands/synthesize';
import { CliIo, EXIT } from './io';

export type { CliIo, CliStream } from './io';
export { EXIT } from './io';

interface Command {
  readonly spec: CommandSpec;
  readonly run: (args: ParsedArgs, io: CliIo) => Promise<number>;
}

/** Every subcommand, in help order. */
export const COMMANDS: readonly Command[] = [
  { spec: SYNTHESIZE, run: synthesizeCommand },
  { spec: DISTILL, run: distillCommand },
  { spec: PRUNE, run: pruneCommand },
  { spec: INSPECT, run: inspectCommand },
  { spec: CONVERT, run: convertCommand },
  { spec: EVALUATE, run: evaluateCommand },
  { spec: MERGE, run: mergeCommand },
];

/** `natinv --help`. */
export function overviewHelp(): string {
  const rows = COMMANDS.map((c) => [c.spec.name, c.spec.summary] as const);
  return [
    'Usage: natinv <command> [options]',
    '',
    'Model inversion for TensorFlow.js: synthesize training-like images from a pre-trained classifier',
    '(DeepInversion, NaturalInversion), distill it into a student or prune it and fine-tune on them,',
    'inspect and convert networks, score them.',
    '',
    'Commands:',
    ...formatRows(rows),
    '',
    'Run natinv <command> --help for its options. Start with: natinv synthesize, then natinv distill --data natinv-out',
    'Exit codes: 0 ok, 1 the command failed, 2 bad command line, 130 interrupted (Ctrl-C).',
    'Environment: NATINV_BACKEND picks the backend; NATINV_DEBUG=1 adds the stack trace to a failure.',
    '',
  ].join('\n');
}

async function versionText(): Promise<string> {
  try {
    const root = await findPackageRoot();
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * An error's message (usage errors are one line; library errors may list details), without the
 * library function's name it may start with (`synthesizeToFolder: ...`): the command names itself.
 */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^[a-z]+[A-Z]\w*: /, '');
}

/**
 * Runs the `natinv` command line `argv` (the words after `natinv`) and returns its exit code.
 * Output goes to `io.stdout`/`io.stderr`; nothing is read from or written to the process itself
 * unless `io` says so, so tests can call it directly.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(overviewHelp());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.spec.name === rest[0]) : undefined;
    io.stdout.write(topic !== undefined ? formatHelp(topic.spec) : overviewHelp());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${await versionText()}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (command === undefined) {
    const names = COMMANDS.map((c) => c.spec.name);
    const what = name.startsWith('-') ? `option ${name} before a command` : `command "${name}"`;
    io.stderr.write(`natinv: unknown ${what}${suggestion(name, names)}; commands: ${names.join(', ')} (natinv --help).\n`);
    return EXIT.usage;
  }
  let json = false;
  try {
    const args = parseArgs(command.spec, rest);
    if (args.help) {
      io.stdout.write(formatHelp(command.spec));
      return EXIT.ok;
    }
    json = args.options.json === true;
    return await command.run(args, io);
  } catch (error) {
    const usage = error instanceof UsageError;
    const message = describe(error);
    if (json) io.stdout.write(`${JSON.stringify({ event: 'error', usage, message })}\n`);
    io.stderr.write(`${message.startsWith('natinv') ? '' : `natinv ${name}: `}${message}\n`);
    // NATINV_DEBUG=1 shows where a failure came from; users get the message alone.
    if (!usage && (io.env ?? process.env).NATINV_DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return usage ? EXIT.usage : EXIT.failure;
  }
}
