/**
 * Topic templates: MQTT topic filters with named captures.
 * `plant/{line}/{device}/{tag+}`: {name} captures one level, {name+} the
 * rest (last only), + and # match without capturing.
 */

type Level = { kind: 'lit'; text: string } | { kind: 'one'; name?: string } | { kind: 'rest'; name?: string };

export interface Template {
  levels: Level[];
  names: string[];
  error?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function compileTemplate(topic: string): Template {
  const levels: Level[] = [];
  const names: string[] = [];
  const parts = topic.split('/');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    const last = i === parts.length - 1;
    let m: RegExpExecArray | null;
    if (p === '+') levels.push({ kind: 'one' });
    else if (p === '#') {
      if (!last) return { levels, names, error: '# must be the last level' };
      levels.push({ kind: 'rest' });
    } else if ((m = /^\{(.*?)(\+?)\}$/.exec(p))) {
      const name = m[1];
      if (!NAME.test(name)) return { levels, names, error: `capture name ${JSON.stringify(name)} must be a word` };
      if (names.includes(name)) return { levels, names, error: `capture {${name}} appears twice` };
      names.push(name);
      if (m[2]) {
        if (!last) return { levels, names, error: `{${name}+} must be the last level` };
        levels.push({ kind: 'rest', name });
      } else levels.push({ kind: 'one', name });
    } else if (/[{}+#]/.test(p)) {
      return { levels, names, error: `level ${JSON.stringify(p)} mixes text with {, }, + or #` };
    } else levels.push({ kind: 'lit', text: p });
  }
  return { levels, names };
}

/** Matches a topic; fills `out` with captures and returns true. Topics starting with $ match only literal $ levels [MQTT-4.7.2-1]. */
export function matchTemplate(t: Template, topic: string, out: Record<string, string>): boolean {
  let pos = 0;
  for (let i = 0; i < t.levels.length; i++) {
    const lv = t.levels[i];
    // "a/#" also matches "a" [MQTT-4.7.1-2]; a named rest needs at least one level.
    if (pos > topic.length) return lv.kind === 'rest' && lv.name === undefined;
    if (lv.kind === 'rest') {
      if (i === 0 && topic.startsWith('$')) return false;
      const rest = topic.slice(pos);
      if (lv.name !== undefined) {
        if (rest.length === 0) return false;
        out[lv.name] = rest;
      }
      return true;
    }
    let end = topic.indexOf('/', pos);
    if (end < 0) end = topic.length;
    const level = topic.slice(pos, end);
    if (lv.kind === 'lit') {
      if (level !== lv.text) return false;
    } else {
      if (i === 0 && level.startsWith('$')) return false;
      if (lv.name !== undefined) {
        if (level.length === 0) return false;
        out[lv.name] = level;
      }
    }
    pos = end + 1;
  }
  return pos === topic.length + 1;
}

/** A template over captures, compiled once: literal parts and capture names in turn. */
export type Expander = (caps: Record<string, string>) => string;

export function compileExpander(template: string): Expander {
  const parts = template.split(/\{([A-Za-z_][A-Za-z0-9_]*)\}/);
  if (parts.length === 1) return () => template;
  if (parts.length === 3 && parts[0] === '' && parts[2] === '') {
    const name = parts[1];
    return (caps) => caps[name] ?? '';
  }
  return (caps) => {
    let out = parts[0];
    for (let i = 1; i < parts.length; i += 2) out += (caps[parts[i]] ?? '') + parts[i + 1];
    return out;
  };
}
