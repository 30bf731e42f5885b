/** What every command shares: arguments, exit codes, the configuration, talking to a running gateway. */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

import { FgError } from '../core/errors.js';
import { parseBind } from '../broker/broker.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, config: 3, locked: 4, query: 5, store: 6, journal: 7 } as const;

export interface Args {
  cmd: string;
  rest: string[];
  flags: Map<string, string | true>;
}

/** Splits argv into the command, its words and its flags; `valueFlags` take the next word as their value. */
export function parseArgs(argv: string[], valueFlags: ReadonlySet<string>): Args {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (valueFlags.has(word)) {
      const v = argv[++i];
      if (v === undefined) throw new FgError('FG_E_USAGE', `${word} needs a value`);
      flags.set(word === '--config' ? '-c' : word, v);
    } else if (word.startsWith('--') && word.includes('=')) {
      const [k, v] = [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)];
      flags.set(k, v);
    } else if (word.startsWith('-') && word.length > 1) flags.set(word, true);
    else rest.push(word);
  }
  return { cmd: rest.shift() ?? '', rest, flags };
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function configOf(args: Args): Config {
  const file = args.flags.get('-c');
  if (typeof file !== 'string') throw new FgError('FG_E_USAGE', `${args.cmd} needs -c FILE`);
  return loadConfig(file);
}

export function post(host: string, port: number, path: string, body: string): Promise<{ status: number; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, data: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function loopbackOf(bind: string): { host: string; port: number } {
  const { host, port } = parseBind(bind);
  return { host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}

export function flag(args: Args, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}
