/**
 * Loads a YAML configuration: parse with positions, substitute ${VAR} and
 * ${VAR:-default} inside parsed values (so a secret holding "#" or ": " cannot
 * reshape the YAML), validate against the schema, and report every problem as
 * file:line:col: path: what was wrong and what was expected.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { Worker } from 'node:worker_threads';
import { FgError, errorMessage, type ErrorCode } from '../core/errors.js';
import { formatIssue, type Issue, type Located, type Pos } from '../core/schema.js';
import { rootSchema, type Config } from './schema.js';

/** Bounds of a configuration: a file, what its aliases may expand to, how deep it nests. */
export const CONFIG_LIMITS = { bytes: 4 * 1024 * 1024, values: 250_000, depth: 40 } as const;

/** Thrown inside the walk when a bound is passed; becomes one issue at the node that passed it. */
class Bound extends Error {
  constructor(readonly at: number, message: string) {
    super(message);
  }
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

export interface LoadResult {
  config?: Config;
  issues: Issue[];
}

/** Parses and validates text; no I/O besides reading files the config names (password_file). */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  if (text.length > CONFIG_LIMITS.bytes) {
    return { issues: [{ pos: { file, line: 1, col: 1 }, path: '', message: `the file has ${text.length} characters; expected at most ${CONFIG_LIMITS.bytes} (a configuration this large is a mistake or an attack)` }] };
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number): Pos => {
    const p = lc.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  const issues: Issue[] = [];
  for (const e of doc.errors) {
    issues.push({ pos: pos(e.pos[0]), path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` });
  }
  if (issues.length) return { issues };

  // Aliases are expanded here, so the walk is bounded: a billion-laughs file (aliases of aliases)
  // or a cyclic alias ends with one clear issue instead of freezing the gateway or its stack.
  let values = 0;
  const open = new Set<Node>();
  const toLocated = (node: Node | null | undefined, path: string, fallback: number, depth = 0): Located => {
    if (!node) return { kind: 'scalar', value: null, pos: pos(fallback) };
    const off = node.range?.[0] ?? fallback;
    if (++values > CONFIG_LIMITS.values) throw new Bound(off, `the configuration expands to more than ${CONFIG_LIMITS.values} values (aliases that repeat aliases?); expected a smaller one`);
    if (depth > CONFIG_LIMITS.depth) throw new Bound(off, `nested deeper than ${CONFIG_LIMITS.depth} levels; expected a flatter configuration`);
    const at = pos(off);
    if (isAlias(node)) {
      const target = node.resolve(doc) as Node | undefined;
      if (!target) throw new Bound(off, `alias *${node.source} names no anchor`);
      if (open.has(target)) throw new Bound(off, `alias *${node.source} refers to a node that contains it (a cycle)`);
      return toLocated(target, path, off, depth + 1);
    }
    if (isMap(node) || isSeq(node)) open.add(node);
    try {
      return located(node, path, fallback, depth, at);
    } finally {
      open.delete(node);
    }
  };
  const located = (node: Node, path: string, fallback: number, depth: number, at: Pos): Located => {
    if (isMap(node)) {
      const entries: Array<{ key: string; keyPos: Pos; value: Located }> = [];
      for (const pair of node.items) {
        const k = pair.key as Node | null;
        const key = k && isScalar(k) ? String(k.value) : String(k);
        const keyOff = k?.range?.[0] ?? node.range?.[0] ?? fallback;
        entries.push({ key, keyPos: pos(keyOff), value: toLocated(pair.value as Node | null, path ? `${path}.${key}` : key, k?.range?.[1] ?? keyOff, depth + 1) });
      }
      return { kind: 'map', entries, pos: at };
    }
    if (isSeq(node)) {
      return { kind: 'seq', items: node.items.map((it, i) => toLocated(it as Node, `${path}[${i}]`, node.range?.[0] ?? fallback, depth + 1)), pos: at };
    }
    if (isScalar(node)) {
      let v = node.value as string | number | boolean | null;
      if (typeof v === 'string' && v.includes('${')) v = substitute(v, node.type === 'PLAIN', path, at, env, issues);
      return { kind: 'scalar', value: v, pos: at };
    }
    return { kind: 'scalar', value: null, pos: at };
  };

  let root: Located;
  try {
    root = toLocated(doc.contents, '', 0);
  } catch (err) {
    if (!(err instanceof Bound)) throw err;
    return { issues: [{ pos: pos(err.at), path: '', message: err.message }] };
  }
  if (root.kind === 'scalar' && root.value === null) {
    issues.push({ pos: root.pos, path: '', message: 'the file is empty; expected a mapping with at least state_dir' });
    return { issues };
  }
  const config = rootSchema.validate(root, '', issues);
  if (issues.length || !config) return { issues: firstPerPlace(issues) };
  if (!isAbsolute(config.state_dir)) config.state_dir = resolve(dirname(resolve(file)), config.state_dir);
  // A state_dir that exists must be a folder (validate changes nothing, so it creates none).
  try {
    if (!statSync(config.state_dir).isDirectory()) {
      const at = root.kind === 'map' ? root.entries.find((e) => e.key === 'state_dir')?.value.pos : undefined;
      return { issues: [{ pos: at ?? pos(0), path: 'state_dir', message: `${config.state_dir} is a file; expected a folder (or a path where one can be made)` }] };
    }
  } catch {
    // not there yet: the gateway makes it
  }
  return { config, issues };
}

/** A value whose ${VAR} failed is also not a valid value: say only the first. */
function firstPerPlace(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.pos.line}:${i.pos.col}:${i.path}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function substitute(v: string, plain: boolean, path: string, at: Pos, env: NodeJS.ProcessEnv, issues: Issue[]): string | number | boolean {
  const out = v.replace(ENV_REF, (whole, name: string, def: string | undefined) => {
    const val = env[name];
    if (val !== undefined && val !== '') return val;
    if (def !== undefined) return def;
    issues.push({ pos: at, path, message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)` });
    return whole;
  });
  // A plain scalar keeps the type its text has (a port from ${PORT}); the text is never parsed as YAML.
  if (plain) {
    if (NUMBER.test(out)) return Number(out);
    if (out === 'true' || out === 'false') return out === 'true';
  }
  return out;
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > CONFIG_LIMITS.bytes) throw new FgError('FG_E_CONFIG', `${file}:1:1: the file has ${size} bytes; expected at most ${CONFIG_LIMITS.bytes} (a configuration this large is a mistake or an attack)`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof FgError) throw err;
    throw new FgError('FG_E_CONFIG_READ', `${file}: cannot read the configuration: ${errorMessage(err)}`);
  }
  const r = parseConfig(text, file, env);
  if (!r.config) throw new FgError('FG_E_CONFIG', r.issues.map(formatIssue).join('\n'));
  return r.config;
}

/**
 * loadConfig on a worker thread, for SIGHUP: parsing and checking a file (bounded as above, but
 * still up to a second for the largest) happens beside the broker, not on its thread.
 */
export function loadConfigOffThread(file: string): Promise<Config> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    let settled = false;
    w.once('message', (m: { config?: Config; error?: { code?: ErrorCode; message: string } }) => {
      settled = true;
      if (m.config) resolve(m.config);
      else reject(m.error?.code ? new FgError(m.error.code, m.error.message) : new Error(m.error?.message ?? 'reload failed'));
      void w.terminate();
    });
    w.once('error', (err) => {
      if (!settled) reject(new FgError('FG_E_CONFIG', `${file}: the configuration could not be loaded: ${errorMessage(err)}`));
    });
    w.once('exit', (code) => {
      if (!settled) reject(new FgError('FG_E_CONFIG', `${file}: loading the configuration stopped (exit ${code}, out of memory?)`));
    });
  });
}
