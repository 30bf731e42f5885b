/**
 * A small schema language for the configuration. Each component declares its
 * slice in its own `config.ts`; the loader validates located YAML values against
 * it, and the JSON Schema and the example YAML are generated from it.
 */
import { readFileSync } from 'node:fs';
import { parseBytes, parseDuration } from './units.js';

export interface Pos {
  file: string;
  line: number;
  col: number;
}

/** A parsed YAML value with where it stood. */
export type Located =
  | { kind: 'scalar'; value: string | number | boolean | null; pos: Pos }
  | { kind: 'map'; entries: Array<{ key: string; keyPos: Pos; value: Located }>; pos: Pos }
  | { kind: 'seq'; items: Located[]; pos: Pos };

export interface Issue {
  pos: Pos;
  path: string;
  message: string;
}

export function formatIssue(i: Issue): string {
  return `${i.pos.file}:${i.pos.line}:${i.pos.col}: ${i.path || '(root)'}: ${i.message}`;
}

interface Common<T> {
  description: string;
  /** Used when the key is absent. */
  default?: T;
  /** How the default is written in YAML, when it differs from JSON.stringify(default). */
  defaultText?: string;
  /** A value shown in the example file for keys without a default. */
  example?: string;
}

export interface SchemaNode<T> extends Common<T> {
  readonly kind: string;
  readonly optional: boolean;
  validate(loc: Located, path: string, issues: Issue[]): T | undefined;
  jsonSchema(): Record<string, unknown>;
}

export type Infer<N> = N extends SchemaNode<infer T> ? T : never;

export function show(loc: Located): string {
  if (loc.kind === 'map') return 'a mapping';
  if (loc.kind === 'seq') return 'a list';
  return JSON.stringify(loc.value);
}

function scalar<T>(
  kind: string,
  expected: string,
  json: Record<string, unknown>,
  conv: (v: string | number | boolean | null) => T | undefined,
  opts: Common<T>,
): SchemaNode<T> {
  return {
    kind,
    optional: false,
    ...opts,
    validate(loc, path, issues) {
      const v = loc.kind === 'scalar' ? conv(loc.value) : undefined;
      if (v === undefined) issues.push({ pos: loc.pos, path, message: `got ${show(loc)}, expected ${expected}` });
      return v;
    },
    jsonSchema() {
      const d = opts.default === undefined ? {} : { default: opts.defaultText ?? opts.default };
      return { ...json, description: opts.description, ...d };
    },
  };
}

export function str(opts: Common<string> & { pattern?: RegExp; expected?: string; minLength?: number }): SchemaNode<string> {
  const expected = opts.expected ?? 'a string';
  return scalar(
    'string',
    expected,
    { type: 'string', ...(opts.pattern ? { pattern: opts.pattern.source } : {}), ...(opts.minLength ? { minLength: opts.minLength } : {}) },
    (v) => {
      if (typeof v !== 'string' && typeof v !== 'number') return undefined;
      const s = String(v);
      if (opts.pattern && !opts.pattern.test(s)) return undefined;
      if (opts.minLength !== undefined && s.length < opts.minLength) return undefined;
      return s;
    },
    opts,
  );
}

export function int(opts: Common<number> & { min?: number; max?: number }): SchemaNode<number> {
  const range =
    opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : opts.min !== undefined ? ` of at least ${opts.min}` : '';
  return scalar(
    'integer',
    `a whole number${range}`,
    { type: 'integer', ...(opts.min !== undefined ? { minimum: opts.min } : {}), ...(opts.max !== undefined ? { maximum: opts.max } : {}) },
    (v) => {
      if (typeof v !== 'number' || !Number.isInteger(v)) return undefined;
      if (opts.min !== undefined && v < opts.min) return undefined;
      if (opts.max !== undefined && v > opts.max) return undefined;
      return v;
    },
    opts,
  );
}

export function bool(opts: Common<boolean>): SchemaNode<boolean> {
  return scalar('boolean', 'true or false', { type: 'boolean' }, (v) => (typeof v === 'boolean' ? v : undefined), opts);
}

export function oneOf<const V extends string>(values: readonly V[], opts: Common<V>): SchemaNode<V> {
  return scalar(
    'enum',
    `one of: ${values.join(', ')}`,
    { enum: values },
    (v) => (typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as V) : undefined),
    opts,
  );
}

/** A duration written as 500ms, 1s, 5m, 2h, 90d; the value is milliseconds. */
export function duration(opts: Common<number> & { min?: number }): SchemaNode<number> {
  return scalar(
    'duration',
    `a duration such as 500ms, 1s, 5m, 90d, 1y${opts.min !== undefined ? ` (at least ${opts.min} ms)` : ''}`,
    { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h|d|w|y)$' },
    (v) => {
      if (typeof v !== 'string') return undefined;
      const ms = parseDuration(v);
      if (ms === undefined || (opts.min !== undefined && ms < opts.min)) return undefined;
      return ms;
    },
    opts,
  );
}

/** A size written as 4096, 64MiB, 1GB; the value is bytes. */
export function bytes(opts: Common<number> & { min?: number }): SchemaNode<number> {
  return scalar(
    'bytes',
    `a size such as 64MiB, 1GiB or a number of bytes${opts.min !== undefined ? ` (at least ${opts.min} bytes)` : ''}`,
    { type: ['string', 'integer'], pattern: '^\\d+(\\.\\d+)?\\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$' },
    (v) => {
      if (typeof v !== 'string' && typeof v !== 'number') return undefined;
      const n = parseBytes(String(v));
      if (n === undefined || (opts.min !== undefined && n < opts.min)) return undefined;
      return n;
    },
    opts,
  );
}

/** host:port, [v6]:port */
export function listenAddress(opts: Common<string>): SchemaNode<string> {
  return str({ ...opts, pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/, expected: 'an address such as 127.0.0.1:1883 or [::1]:1883' });
}

export function optional<T>(node: SchemaNode<T>): SchemaNode<T | undefined> {
  return { ...node, optional: true };
}

export type Shape = Record<string, SchemaNode<unknown>>;
export type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

export function object<S extends Shape>(
  fields: S,
  opts: { description: string; required?: Array<keyof S & string>; check?: (v: ObjectOf<S>, loc: Located, path: string, issues: Issue[]) => void },
): SchemaNode<ObjectOf<S>> & { fields: S; required: string[] } {
  const required = opts.required ?? [];
  const node = {
    kind: 'object',
    optional: false,
    description: opts.description,
    fields,
    required,
    validate(loc: Located, path: string, issues: Issue[]): ObjectOf<S> | undefined {
      // A key written with nothing after it (`broker:`) means "all defaults".
      const entries = loc.kind === 'map' ? loc.entries : loc.kind === 'scalar' && loc.value === null ? [] : undefined;
      if (!entries) {
        issues.push({ pos: loc.pos, path, message: `got ${show(loc)}, expected a mapping of ${Object.keys(fields).join(', ')}` });
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      const before = issues.length;
      for (const e of entries) {
        const sub = path ? `${path}.${e.key}` : e.key;
        const f = Object.hasOwn(fields, e.key) ? fields[e.key] : undefined;
        if (!f) {
          issues.push({ pos: e.keyPos, path: sub, message: `unknown key ${JSON.stringify(e.key)}; expected one of: ${Object.keys(fields).join(', ')}` });
          continue;
        }
        if (seen.has(e.key)) {
          issues.push({ pos: e.keyPos, path: sub, message: 'key is given twice' });
          continue;
        }
        seen.add(e.key);
        if (f.optional && e.value.kind === 'scalar' && e.value.value === null) continue;
        out[e.key] = f.validate(e.value, sub, issues);
      }
      for (const [k, f] of Object.entries(fields)) {
        if (seen.has(k)) continue;
        const sub = path ? `${path}.${k}` : k;
        if (required.includes(k)) {
          issues.push({ pos: loc.pos, path: sub, message: `is required (${f.description})` });
        } else if (f.default !== undefined) {
          out[k] = f.default;
        } else if (f.kind === 'object' && !f.optional) {
          out[k] = f.validate({ kind: 'map', entries: [], pos: loc.pos }, sub, issues);
        } else if (f.kind === 'array' && !f.optional) {
          out[k] = [];
        }
      }
      if (issues.length === before && opts.check) opts.check(out as ObjectOf<S>, loc, path, issues);
      return out as ObjectOf<S>;
    },
    jsonSchema() {
      const properties: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(fields)) properties[k] = f.jsonSchema();
      return { type: 'object', description: opts.description, properties, additionalProperties: false, ...(required.length ? { required } : {}) };
    },
  };
  return node;
}

/** `commentedExample`: the example YAML shows it commented out (live, it would change what a plain configuration does). */
export function array<T>(
  item: SchemaNode<T>,
  opts: { description: string; example?: string; commentedExample?: boolean },
): SchemaNode<T[]> & { item: SchemaNode<T>; commentedExample?: boolean } {
  return {
    kind: 'array',
    optional: false,
    description: opts.description,
    example: opts.example,
    commentedExample: opts.commentedExample,
    item,
    validate(loc, path, issues) {
      if (loc.kind === 'scalar' && loc.value === null) return [];
      if (loc.kind !== 'seq') {
        issues.push({ pos: loc.pos, path, message: `got ${show(loc)}, expected a list` });
        return undefined;
      }
      const out: T[] = [];
      loc.items.forEach((it, i) => {
        const v = item.validate(it, `${path}[${i}]`, issues);
        if (v !== undefined) out.push(v);
      });
      return out;
    },
    jsonSchema() {
      return { type: 'array', description: opts.description, items: item.jsonSchema() };
    },
  };
}

/** Where a key's value stands in a mapping (for checks that span keys). */
export function entryPos(loc: Located, key: string): Pos {
  if (loc.kind === 'map') {
    const e = loc.entries.find((x) => x.key === key);
    if (e) return e.value.pos;
  }
  return loc.pos;
}

export function num(opts: Common<number>): SchemaNode<number> {
  return scalar('number', 'a number', { type: 'number' }, (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined), opts);
}

/** Reads a file a key of `loc` names (validation reads secrets and certificates once); an issue at the key when it cannot. */
export function readNamedFile(file: string, loc: Located, key: string, path: string, issues: Issue[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    issues.push({
      pos: entryPos(loc, key),
      path: `${path}.${key}`,
      message: `cannot read ${JSON.stringify(file)}: ${err instanceof Error ? err.message : String(err)}`,
    });
    return undefined;
  }
}

/** A secret file's content: the file without its trailing newline. */
export function secretOf(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** An issue for each name used twice in a list (device names, tags, servers). */
export function checkUnique<T>(items: readonly T[], name: (t: T) => string, what: string, pos: Pos, path: string, issues: Issue[]): void {
  const seen = new Set<string>();
  for (const it of items) {
    const n = name(it);
    if (seen.has(n)) issues.push({ pos, path, message: `${what} ${JSON.stringify(n)} is used twice` });
    seen.add(n);
  }
}

/** One item, or a list of them (`select: {…}` or `select: [{…}, {…}]`); the value is always a list. */
export function oneOrMany<T>(item: SchemaNode<T>, opts: { description: string; example?: string }): SchemaNode<T[]> {
  const list = array(item, opts);
  return {
    ...list,
    kind: 'oneOrMany',
    validate(loc, path, issues) {
      if (loc.kind === 'seq') return list.validate(loc, path, issues);
      const v = item.validate(loc, path, issues);
      return v === undefined ? undefined : [v];
    },
    jsonSchema() {
      return { description: opts.description, oneOf: [item.jsonSchema(), { type: 'array', items: item.jsonSchema() }] };
    },
  };
}

/** Where a value deep inside `loc` stands (keys and list indexes), or the nearest enclosing value found. */
export function posAt(loc: Located, path: Array<string | number>): Pos {
  let cur = loc;
  for (const k of path) {
    const next =
      typeof k === 'number' ? (cur.kind === 'seq' ? cur.items[k] : undefined) : cur.kind === 'map' ? cur.entries.find((e) => e.key === k)?.value : undefined;
    if (!next) break;
    cur = next;
  }
  return cur.pos;
}

/**
 * What a SIGHUP can apply of a configuration section, declared beside its schema: all of it
 * (`live`), none of it (`restart`), the keys named (`{ live: [...] }`: a change elsewhere in the
 * section waits for a restart), or a decision over the running and the new value.
 */
export type Reload<T> = 'live' | 'restart' | { live: Array<keyof T> } | { decide(prev: T, next: T): 'live' | 'restart' };

/** Applies a section's reload policy: the value to run with now, and whether some change waits for a restart. */
export function reloadSection<T>(policy: Reload<T>, prev: T, next: T): { value: T; pending: boolean } {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (same(prev, next)) return { value: prev, pending: false };
  if (policy === 'live') return { value: next, pending: false };
  if (policy === 'restart') return { value: prev, pending: true };
  if ('decide' in policy) return policy.decide(prev, next) === 'live' ? { value: next, pending: false } : { value: prev, pending: true };
  const value = { ...prev };
  for (const k of policy.live) value[k] = next[k];
  return { value, pending: !same(value, next) };
}
