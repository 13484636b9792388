/**
 * docs/api is generated from the sources' doc comments (npm run docs:api) and committed so it
 * reads on GitHub; this test regenerates it into a temporary folder and fails when the committed
 * copy differs, so the reference cannot drift from the code.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');
const COMMITTED = path.join(ROOT, 'docs', 'api');

/** Every file below `dir`, as paths relative to it, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(path.relative(dir, full));
    }
  };
  walk(dir);
  return out.sort();
}

test('docs/api matches what npm run docs:api generates from the sources', () => {
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'natinv-api-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', fresh, '--logLevel', 'Error'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const stale = 'docs/api is stale: run `npm run docs:api` and commit the result';
    expect({ files: listFiles(COMMITTED), why: stale }).toEqual({ files: listFiles(fresh), why: stale });
    for (const file of listFiles(fresh)) {
      const committed = fs.readFileSync(path.join(COMMITTED, file), 'utf8');
      expect({ file, text: committed }).toEqual({ file, text: fs.readFileSync(path.join(fresh, file), 'utf8') });
    }
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
  }
}, 120_000);
