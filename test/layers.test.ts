/**
 * Dependencies point down (conventions.md §8): core ← telemetry ← components ←
 * pipeline ← cli. Components do not import each other; config/ reads only
 * their config.ts slices.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/gateway.js';

const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** The component a file belongs to: core, telemetry, config, pipeline, cli, broker, journal, encode, sinks/clickhouse, sources/modbus … */
function layer(file: string): string {
  const parts = relative(SRC, file).split('/');
  return parts[0] === 'sinks' || parts[0] === 'sources' ? `${parts[0]}/${parts[1]}` : parts[0];
}

const BASE = new Set(['core', 'telemetry', 'types']);
const TOP = new Set(['pipeline', 'cli']);

describe('layering', () => {
  it('components import only core, telemetry and themselves; config imports only config slices', () => {
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const from = layer(f);
      if (TOP.has(from)) continue;
      for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = resolve(dirname(f), m[1]);
        const to = layer(target);
        if (to === from) continue;
        const ok =
          from === 'core' ? false : from === 'telemetry' ? to === 'core' : from === 'config' ? BASE.has(to) || target.endsWith('/config.js') : BASE.has(to);
        if (!ok) bad.push(`${relative(SRC, f)} imports ${relative(SRC, target)}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
