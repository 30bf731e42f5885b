/**
 * Globs over device and tag names, for allow-lists (partners' `send`): `*` is any run of
 * characters (also `/`), `?` one character; everything else is literal.
 */
export type Matcher = (s: string) => boolean;

export function compileGlob(pattern: string): Matcher {
  if (pattern === '*') return () => true;
  if (!/[*?]/.test(pattern)) return (s) => s === pattern;
  const src = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]');
  const re = new RegExp(`^${src}$`);
  return (s) => re.test(s);
}

/** One `select`: a device glob and a tag glob, both must match. */
export interface Select {
  device: string;
  tag: string;
}

/** True when any of the selects matches (device, tag). */
export function compileSelects(selects: readonly Select[]): (device: string, tag: string) => boolean {
  const ms = selects.map((s) => ({ d: compileGlob(s.device), t: compileGlob(s.tag) }));
  return (device, tag) => {
    for (const m of ms) if (m.d(device) && m.t(tag)) return true;
    return false;
  };
}
