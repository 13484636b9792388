/**
 * A run's configuration is plain JSON so it can live in the manifest and be compared with the
 * next run pointed at the same folder. This module checks that and lists the differences.
 */

/** Throws, naming the path, if `value` is not plain JSON (finite numbers, strings, booleans, null, arrays, plain objects). */
export function assertPlainJson(value: unknown, where: string): void {
  const visit = (v: unknown, at: string, seen: Set<object>): void => {
    const fail = (what: string): never => {
      throw new Error(
        `${where}: ${at} is ${what}; the configuration must be plain JSON (finite numbers, strings, booleans, ` +
          'null, arrays, plain objects) so it can be stored in the manifest. Store a name or the numbers instead.',
      );
    };
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) fail(String(v));
      return;
    }
    if (typeof v !== 'object') fail(`a ${typeof v}`);
    const object = v as object;
    if (seen.has(object)) fail('a circular reference');
    const inner = new Set(seen).add(object);
    if (Array.isArray(object)) {
      object.forEach((item, i) => visit(item, `${at}[${i}]`, inner));
      return;
    }
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) fail(`an instance of ${object.constructor?.name ?? 'a class'}`);
    for (const [key, item] of Object.entries(object)) {
      if (item === undefined) fail(`undefined at key "${key}" (omit the key instead)`);
      visit(item, `${at}.${key}`, inner);
    }
  };
  visit(value, 'configuration', new Set());
}

/** A JSON round trip: what the manifest will hold, with keys in a stable (sorted) order. */
export function canonicalJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      Object.defineProperty(out, key, {
        value: canonicalJson((value as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** One difference between two configurations. */
export interface ConfigurationDifference {
  /** Dotted path of the differing key, e.g. `options.steps` or `classes[3]`. */
  key: string;
  /** JSON of the value on each side; `undefined` where the key is absent. */
  left: string | undefined;
  right: string | undefined;
}

/** Differences between two plain-JSON configurations, by dotted key path (key order ignored). */
export function diffConfigurations(left: unknown, right: unknown, at = ''): ConfigurationDifference[] {
  const show = (v: unknown): string | undefined => (v === undefined ? undefined : JSON.stringify(v));
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(left) && isObject(right)) {
    const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
    return keys.flatMap((key) => {
      const has = (o: Record<string, unknown>): boolean => Object.prototype.hasOwnProperty.call(o, key);
      const path = at === '' ? key : `${at}.${key}`;
      if (!has(left) || !has(right)) {
        return [{ key: path, left: has(left) ? show(left[key]) : undefined, right: has(right) ? show(right[key]) : undefined }];
      }
      return diffConfigurations(left[key], right[key], path);
    });
  }
  if (Array.isArray(left) && Array.isArray(right) && left.length === right.length) {
    return left.flatMap((item, i) => diffConfigurations(item, right[i], `${at}[${i}]`));
  }
  const l = show(left);
  const r = show(right);
  return l === r ? [] : [{ key: at === '' ? '(whole configuration)' : at, left: l, right: r }];
}

/** `key: A in <left>, B in <right>` lines, at most `limit` of them. */
export function describeDifferences(
  differences: readonly ConfigurationDifference[],
  leftName: string,
  rightName: string,
  limit = 10,
): string {
  const side = (v: string | undefined): string => (v === undefined ? 'absent' : v.length > 80 ? `${v.slice(0, 77)}...` : v);
  const lines = differences.slice(0, limit).map((d) => `  ${d.key}: ${side(d.left)} in ${leftName}, ${side(d.right)} in ${rightName}`);
  if (differences.length > limit) lines.push(`  ... and ${differences.length - limit} more`);
  return lines.join('\n');
}
