/**
 * Globs over device and tag names, for allow-lists (partners' `send`): `*` is any run of
 * characters (also `/`), `?` one character; everything else is literal.
 */
import { object, str } from './schema.js';

export type Matcher = (s: string) => boolean;

export function compileGlob(pattern: string): Matcher {
  if (pattern === '*') return () => true;
  if (!/[*?]/.test(pattern)) return (s) => s === pattern;
  const src = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[\\s\\S]*')
    .replace(/\?/g, '[\\s\\S]');
  const re = new RegExp(`^${src}$`);
  return (s) => re.test(s);
}

/** One `select`: a device glob and a tag glob, both must match. */
export interface Select {
  device: string;
  tag: string;
}

/** How a `select` is written in the configuration (partners' send entries, sinks). */
export const selectSchema = object(
  {
    device: str({ description: 'Glob over device names: * any run of characters (also /), ? one character.', default: '*' }),
    tag: str({ description: 'Glob over tag names.', default: '*' }),
  },
  { description: 'Which values: a device glob and a tag glob, both must match.' },
);

/** True when any of the selects matches (device, tag). */
export function compileSelects(selects: readonly Select[]): (device: string, tag: string) => boolean {
  const ms = selects.map((s) => ({ d: compileGlob(s.device), t: compileGlob(s.tag) }));
  return (device, tag) => {
    for (const m of ms) if (m.d(device) && m.t(tag)) return true;
    return false;
  };
}
