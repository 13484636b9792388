/**
 * The import graph of src/ against docs/architecture.md ("Layers"): each folder imports only the
 * folders below it, and no module reaches itself again through value imports (an import cycle
 * that bundlers and Node would initialize half-way). Type-only imports vanish at run time and
 * are exempt from the cycle check, not from the layer check.
 */
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.resolve(__dirname, '..', 'src');

// The "May import" column of docs/architecture.md, as data.
const BELOW_SYNTHESIS = ['util', 'runtime', 'io', 'augment', 'optim', 'models', 'taps', 'objectives', 'sources', 'synthesis'];
const MAY_IMPORT: Record<string, readonly string[]> = {
  util: [],
  runtime: [],
  io: ['util'],
  augment: ['util'],
  optim: ['util'],
  models: ['io', 'util'],
  taps: ['models', 'util'],
  objectives: ['taps', 'models', 'util'],
  sources: ['models', 'taps', 'util', 'augment', 'optim'],
  synthesis: BELOW_SYNTHESIS.filter((f) => f !== 'synthesis'),
  metrics: BELOW_SYNTHESIS,
  dataset: BELOW_SYNTHESIS,
  apps: [...BELOW_SYNTHESIS, 'metrics', 'dataset'],
  cli: [...BELOW_SYNTHESIS, 'metrics', 'dataset', 'apps'],
};

interface Import {
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function resolveModule(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((file) => fs.existsSync(file));
}

/** Every relative import and re-export of every file under src/. */
function imports(): Import[] {
  const statement = /^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms;
  return sourceFiles(SRC).flatMap((file) => {
    const text = fs.readFileSync(file, 'utf8');
    return [...text.matchAll(statement)].flatMap((match) => {
      const to = resolveModule(file, match[3]);
      return to === undefined ? [] : [{ from: file, to, typeOnly: match[2] !== undefined }];
    });
  });
}

const folderOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0];
const ENTRIES = new Set(['index.ts', 'node.ts']);

test('every folder of src/ imports only the folders its layer allows', () => {
  const found = imports();
  expect(found.length).toBeGreaterThan(100); // the scan sees the code
  const broken = found
    .filter(({ from, to }) => !ENTRIES.has(folderOf(from)) && folderOf(from) !== folderOf(to))
    .filter(({ from, to }) => !(MAY_IMPORT[folderOf(from)] ?? []).includes(folderOf(to)))
    .map(({ from, to }) => `${path.relative(SRC, from)} imports ${path.relative(SRC, to)}`);
  expect(broken).toEqual([]);
  expect(Object.keys(MAY_IMPORT).sort()).toEqual(
    fs
      .readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort(),
  );
});

/** Every cycle the value-import graph holds, as `a -> b -> a` chains. */
function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const next of edges.get(file) ?? []) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of edges.keys()) visit(file, []);
  return cycles;
}

test('no module imports itself back at run time', () => {
  const edges = new Map<string, string[]>();
  for (const { from, to, typeOnly } of imports()) {
    if (!typeOnly) edges.set(path.relative(SRC, from), [...(edges.get(path.relative(SRC, from)) ?? []), path.relative(SRC, to)]);
  }
  expect(findCycles(edges)).toEqual([]);
});

test('the cycle search finds a cycle, and the layer table refuses an upward import', () => {
  const loop = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
  ]);
  expect(findCycles(loop)).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
  expect(findCycles(new Map([['a.ts', ['b.ts']]]))).toEqual([]);
  expect(MAY_IMPORT.apps).not.toContain('cli');
  expect(MAY_IMPORT.synthesis).not.toContain('apps');
});
