/**
 * Loads a YAML configuration: parse with positions, substitute ${VAR} and
 * ${VAR:-default} inside parsed values (so a secret holding "#" or ": " cannot
 * reshape the YAML), validate against the schema, and report every problem as
 * file:line:col: path: what was wrong and what was expected.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { FgError, errorMessage } from '../core/errors.js';
import { formatIssue, type Issue, type Located, type Pos } from '../core/schema.js';
import { rootSchema, type Config } from './schema.js';

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

export interface LoadResult {
  config?: Config;
  issues: Issue[];
}

/** Parses and validates text; no I/O besides reading files the config names (password_file). */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
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

  const toLocated = (node: Node | null | undefined, path: string, fallback: number): Located => {
    if (!node) return { kind: 'scalar', value: null, pos: pos(fallback) };
    const at = pos(node.range?.[0] ?? fallback);
    if (isAlias(node)) return toLocated(node.resolve(doc) as Node, path, node.range?.[0] ?? fallback);
    if (isMap(node)) {
      const entries: Array<{ key: string; keyPos: Pos; value: Located }> = [];
      for (const pair of node.items) {
        const k = pair.key as Node | null;
        const key = k && isScalar(k) ? String(k.value) : String(k);
        const keyOff = k?.range?.[0] ?? node.range?.[0] ?? fallback;
        entries.push({ key, keyPos: pos(keyOff), value: toLocated(pair.value as Node | null, path ? `${path}.${key}` : key, k?.range?.[1] ?? keyOff) });
      }
      return { kind: 'map', entries, pos: at };
    }
    if (isSeq(node)) {
      return { kind: 'seq', items: node.items.map((it, i) => toLocated(it as Node, `${path}[${i}]`, node.range?.[0] ?? fallback)), pos: at };
    }
    if (isScalar(node)) {
      let v = node.value as string | number | boolean | null;
      if (typeof v === 'string' && v.includes('${')) v = substitute(v, node.type === 'PLAIN', path, at, env, issues);
      return { kind: 'scalar', value: v, pos: at };
    }
    return { kind: 'scalar', value: null, pos: at };
  };

  const root = toLocated(doc.contents as Node | null, '', 0);
  if (root.kind === 'scalar' && root.value === null) {
    issues.push({ pos: root.pos, path: '', message: 'the file is empty; expected a mapping with at least state_dir' });
    return { issues };
  }
  const config = rootSchema.validate(root, '', issues);
  if (issues.length || !config) return { issues: firstPerPlace(issues) };
  if (!isAbsolute(config.state_dir)) config.state_dir = resolve(dirname(resolve(file)), config.state_dir);
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
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FgError('FG_E_CONFIG_READ', `${file}: cannot read the configuration: ${errorMessage(err)}`);
  }
  const r = parseConfig(text, file, env);
  if (!r.config) throw new FgError('FG_E_CONFIG', r.issues.map(formatIssue).join('\n'));
  return r.config;
}
