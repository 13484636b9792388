/**
 * A small, dependency-free command-line parser: each command declares its options once, and the
 * same declaration drives parsing, validation and `--help`. Bad arguments raise a UsageError
 * whose one-line message says what is wrong and how to fix it.
 */

/** A bad command line: the CLI prints the message (no stack trace) and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** How an option's value is read. */
export type OptionKind =
  /** Takes no value: `--json`. A negatable flag is written `--no-<name>` and defaults to true. */
  | 'flag'
  /** Any text: `--out folder`. */
  | 'string'
  /** A whole number: `--steps 200`. */
  | 'integer'
  /** A finite number: `--lr 0.05`. */
  | 'number'
  /** Comma-separated finite numbers: `--mean 0.485,0.456,0.406`. */
  | 'numbers'
  /** Comma-separated names: `--taps layer3.2,layer2.2`. */
  | 'names';

/** One option of a command. */
export interface OptionSpec {
  /** Long name without dashes: `batch-size` is given as `--batch-size 64` or `--batch-size=64`. */
  readonly name: string;
  readonly kind: OptionKind;
  /** Placeholder shown in help: `N`, `DIR`, `a,b,c`. */
  readonly value?: string;
  /** What it does. */
  readonly help: string;
  /** The default, as shown in help (`1`, `natinv-out`, `64 on tensorflow, 8 on cpu`). */
  readonly default?: string;
  /** Allowed values (string options). */
  readonly choices?: readonly string[];
  /** Smallest allowed value (integer and number options). */
  readonly min?: number;
  /** Exact count of values (numbers and names options). */
  readonly count?: number;
  /** For flags: written `--no-<name>`, true unless given. */
  readonly negatable?: boolean;
}

/** A positional argument. */
export interface PositionalSpec {
  readonly name: string;
  readonly help: string;
  /** Must be given at least once. Default false. */
  readonly required?: boolean;
  /** Takes every remaining positional. Default false. */
  readonly variadic?: boolean;
}

/** A subcommand: its options, positionals and help text. */
export interface CommandSpec {
  /** `synthesize`, `inspect`, ... */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Paragraphs shown under the usage line. */
  readonly description?: readonly string[];
  readonly positionals?: readonly PositionalSpec[];
  readonly options: readonly OptionSpec[];
  /** Example command lines, shown at the end of the help. */
  readonly examples?: readonly string[];
}

/** A value parsed from the command line. */
export type OptionValue = string | number | boolean | number[] | string[];

/** The result of {@link parseArgs}. */
export interface ParsedArgs {
  /** Values of the options given (flags: true; negatable flags: false when `--no-` was given). */
  readonly options: Readonly<Record<string, OptionValue>>;
  readonly positionals: readonly string[];
  /** True when `--help` or `-h` was given (everything else is then ignored). */
  readonly help: boolean;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INTEGER = /^[+-]?\d+$/;

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** ` (did you mean --x?)` when one name is close to `given`, else ''. */
export function suggestion(given: string, names: readonly string[], prefix = ''): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = distance(given, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  const tolerance = given.length <= 3 ? 1 : Math.max(2, Math.floor(given.length / 3));
  return best !== undefined && bestDistance <= tolerance ? ` (did you mean ${prefix}${best}?)` : '';
}

function flagName(spec: OptionSpec): string {
  return spec.kind === 'flag' && spec.negatable === true ? `--no-${spec.name}` : `--${spec.name}`;
}

/** Converts one option's text to its value, or throws a UsageError naming the option. */
function convert(command: string, spec: OptionSpec, text: string): OptionValue {
  const where = `${command}: --${spec.name}`;
  const placeholder = spec.value ?? 'VALUE';
  switch (spec.kind) {
    case 'string': {
      if (text === '') throw new UsageError(`${where} needs a non-empty ${placeholder}.`);
      if (spec.choices !== undefined && !spec.choices.includes(text)) {
        throw new UsageError(`${where}: unknown value "${text}"${suggestion(text, spec.choices)}; use one of ${spec.choices.join(', ')}.`);
      }
      return text;
    }
    case 'integer': {
      if (!INTEGER.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
        throw new UsageError(`${where} needs a whole number, got "${text}".`);
      }
      const value = Number(text);
      if (spec.min !== undefined && value < spec.min) {
        throw new UsageError(`${where} must be at least ${spec.min}, got ${value}.`);
      }
      return value;
    }
    case 'number': {
      const value = Number(text);
      if (!NUMBER.test(text.trim()) || !Number.isFinite(value)) throw new UsageError(`${where} needs a number, got "${text}".`);
      if (spec.min !== undefined && value < spec.min) throw new UsageError(`${where} must be at least ${spec.min}, got ${value}.`);
      return value;
    }
    case 'numbers': {
      const parts = text.split(',').map((p) => p.trim());
      const bad = parts.find((p) => !NUMBER.test(p) || !Number.isFinite(Number(p)));
      if (bad !== undefined) {
        throw new UsageError(`${where} needs comma-separated numbers like ${placeholder}, got "${text}" ("${bad}" is not a number).`);
      }
      if (spec.count !== undefined && parts.length !== spec.count) {
        throw new UsageError(`${where} needs exactly ${spec.count} comma-separated numbers (${placeholder}), got ${parts.length}.`);
      }
      return parts.map(Number);
    }
    case 'names': {
      const parts = text.split(',').map((p) => p.trim());
      if (parts.some((p) => p === '')) throw new UsageError(`${where} needs comma-separated names like ${placeholder}, got "${text}".`);
      if (spec.count !== undefined && parts.length !== spec.count) {
        throw new UsageError(`${where} needs exactly ${spec.count} comma-separated names, got ${parts.length}.`);
      }
      return parts;
    }
    default:
      throw new UsageError(`${where} takes no value.`);
  }
}

/** True for text that reads as the next option rather than a value (negative numbers are values). */
function looksLikeOption(text: string): boolean {
  return /^-(-|[a-zA-Z])/.test(text);
}

/**
 * Parses `argv` (the words after the subcommand) against `spec`. Accepts `--name value`,
 * `--name=value`, `--no-name` for negatable flags, `-h`/`--help`, and `--` to end the options.
 * Throws a UsageError for an unknown option (with a suggestion), a missing or malformed value,
 * an option given twice, a value given to a flag, and missing or surplus positionals.
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const command = `natinv ${spec.name}`;
  const byFlag = new Map<string, OptionSpec>();
  for (const option of spec.options) byFlag.set(flagName(option), option);
  const options: Record<string, OptionValue> = {};
  const positionals: string[] = [];
  const see = `see natinv ${spec.name} --help`;
  if (argv.includes('--help') || argv.includes('-h')) {
    const end = argv.indexOf('--');
    const at = Math.max(argv.indexOf('--help'), argv.indexOf('-h'));
    if (end === -1 || at < end) return { options, positionals, help: true };
  }
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (onlyPositionals || !word.startsWith('-') || word === '-' || NUMBER.test(word)) {
      positionals.push(word);
      continue;
    }
    if (word === '--') {
      onlyPositionals = true;
      continue;
    }
    if (!word.startsWith('--')) {
      throw new UsageError(`${command}: unknown option ${word}; options are written --name (${see}).`);
    }
    const equals = word.indexOf('=');
    const flag = equals === -1 ? word : word.slice(0, equals);
    const option = byFlag.get(flag);
    if (option === undefined) {
      const negated = flag.startsWith('--no-') ? byFlag.get(`--${flag.slice(5)}`) : undefined;
      const hint =
        negated !== undefined
          ? ` (--${negated.name} cannot be negated)`
          : suggestion(
              flag.slice(2),
              [...byFlag.keys()].map((f) => f.slice(2)),
              '--',
            );
      throw new UsageError(`${command}: unknown option ${flag}${hint}; ${see}.`);
    }
    if (Object.prototype.hasOwnProperty.call(options, option.name)) {
      throw new UsageError(`${command}: ${flag} is given twice; give it once.`);
    }
    if (option.kind === 'flag') {
      if (equals !== -1) throw new UsageError(`${command}: ${flag} takes no value (got "${word.slice(equals + 1)}").`);
      options[option.name] = option.negatable !== true;
      continue;
    }
    let text: string;
    if (equals !== -1) {
      text = word.slice(equals + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || looksLikeOption(next)) {
        throw new UsageError(`${command}: ${flag} needs a value (${flag} ${option.value ?? 'VALUE'}).`);
      }
      text = next;
      i++;
    }
    options[option.name] = convert(command, option, text);
  }
  checkPositionals(spec, positionals, command, see);
  return { options, positionals, help: false };
}

function checkPositionals(spec: CommandSpec, positionals: readonly string[], command: string, see: string): void {
  const declared = spec.positionals ?? [];
  const required = declared.filter((p) => p.required === true);
  if (positionals.length < required.length) {
    const missing = required[positionals.length];
    throw new UsageError(`${command}: missing <${missing.name}> (${missing.help.replace(/\.$/, '')}); ${see}.`);
  }
  const variadic = declared.some((p) => p.variadic === true);
  if (!variadic && positionals.length > declared.length) {
    const extra = positionals[declared.length];
    const accepted = declared.length === 0 ? 'takes no arguments' : `takes ${declared.map((p) => `<${p.name}>`).join(' ')}`;
    throw new UsageError(`${command}: unexpected argument "${extra}"; it ${accepted} (${see}).`);
  }
}

function wrap(text: string, width: number, indent: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Help text of a command: usage, description, every option with its default, examples. */
export function formatHelp(spec: CommandSpec, width = 100): string {
  const positional = (spec.positionals ?? [])
    .map((p) => {
      const name = `<${p.name}>${p.variadic === true ? '...' : ''}`;
      return p.required === true ? name : `[${name}]`;
    })
    .join(' ');
  const out: string[] = [`Usage: natinv ${spec.name}${positional === '' ? '' : ` ${positional}`} [options]`, '', spec.summary];
  for (const paragraph of spec.description ?? []) out.push('', ...wrap(paragraph, width, 0));
  const rows: Array<[string, string]> = [];
  for (const p of spec.positionals ?? []) rows.push([`<${p.name}>`, p.help]);
  if (rows.length > 0) {
    out.push('', 'Arguments:');
    out.push(...formatRows(rows, width));
  }
  const optionRows: Array<[string, string]> = spec.options.map((o) => {
    const head = o.kind === 'flag' ? flagName(o) : `--${o.name} ${o.value ?? 'VALUE'}`;
    const choices = o.choices !== undefined && !o.choices.every((c) => o.help.includes(c)) ? ` One of ${o.choices.join(', ')}.` : '';
    const fallback = o.default !== undefined ? ` Default: ${o.default}.` : '';
    return [head, `${o.help}${choices}${fallback}`];
  });
  optionRows.push(['-h, --help', 'Show this help and exit.']);
  out.push('', 'Options:', ...formatRows(optionRows, width));
  if (spec.examples !== undefined && spec.examples.length > 0) {
    out.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  return `${out.join('\n')}\n`;
}

/** Two-column rows: the left column padded, the right wrapped under itself. */
export function formatRows(rows: ReadonlyArray<readonly [string, string]>, width = 100): string[] {
  const left = Math.min(30, Math.max(...rows.map(([head]) => head.length)) + 2);
  const lines: string[] = [];
  for (const [head, text] of rows) {
    const wrapped = wrap(text, width, left + 2);
    if (head.length + 2 > left) {
      lines.push(`  ${head}`);
      wrapped.forEach((l) => lines.push(`${' '.repeat(left + 2)}${l}`));
    } else {
      wrapped.forEach((l, i) => lines.push(`${i === 0 ? `  ${head.padEnd(left)}` : ' '.repeat(left + 2)}${l}`));
      if (wrapped.length === 0) lines.push(`  ${head}`);
    }
  }
  return lines;
}

/** Typed accessors over parsed options, so commands read values without casts. */
export class Options {
  constructor(private readonly values: Readonly<Record<string, OptionValue>>) {}

  /** True when the option was given on the command line. */
  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.values, name);
  }

  string(name: string): string | undefined {
    return this.values[name] as string | undefined;
  }

  number(name: string): number | undefined {
    return this.values[name] as number | undefined;
  }

  numbers(name: string): number[] | undefined {
    return this.values[name] as number[] | undefined;
  }

  names(name: string): string[] | undefined {
    return this.values[name] as string[] | undefined;
  }

  /** A flag's value; `fallback` when not given (true for negatable flags). */
  flag(name: string, fallback = false): boolean {
    return this.has(name) ? (this.values[name] as boolean) : fallback;
  }
}
