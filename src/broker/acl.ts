/**
 * Topic access rules. Rules are checked in order and the first one that
 * applies decides; once any rule exists, what no rule allows is denied.
 * `%u` and `%c` in a rule's topic stand for the client's username and id.
 * A mosquitto acl_file is read into the same rules: its deny lines first (they
 * win in mosquitto 2), then its grants; `topic` lines before the first `user`
 * line are for anonymous clients, `pattern` lines for everyone.
 */

export type Access = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  /** Only for this username (undefined: anyone; '' : anonymous clients only). */
  user?: string;
  /** Only for this client id. */
  client?: string;
  topic: string;
  access: Access;
}

export interface Who {
  username: string | undefined;
  clientId: string;
}

function applies(r: AclRule, who: Who): boolean {
  if (r.user !== undefined && (r.user === '' ? who.username !== undefined : r.user !== who.username)) return false;
  if (r.client !== undefined && r.client !== who.clientId) return false;
  return true;
}

/** The rule's filter for this client, or undefined when it names %u and the client has none. */
function filterFor(r: AclRule, who: Who): string | undefined {
  if (!r.topic.includes('%')) return r.topic;
  if (r.topic.includes('%u') && who.username === undefined) return undefined;
  // A substituted name that holds + or # would widen the rule: such clients do not match it.
  for (const v of [who.username ?? '', who.clientId]) if (/[+#/]/.test(v)) return undefined;
  return r.topic.replace(/%u/g, who.username ?? '').replace(/%c/g, who.clientId);
}

/** MQTT topic matching [MQTT-4.7]: + one level, # the rest (and the parent), $-topics not matched by a leading wildcard. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false; // [MQTT-4.7.2-1]
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Whether some topic matches both filters. */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true;
    if (p === undefined || q === undefined) return p === q;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
}

const READS = new Set<Access>(['read', 'readwrite', 'deny']);
const WRITES = new Set<Access>(['write', 'readwrite', 'deny']);

export class Acl {
  constructor(readonly rules: readonly AclRule[]) {}

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** May this client publish to `topic`? */
  canWrite(who: Who, topic: string): boolean {
    return this.decide(WRITES, who, topic);
  }

  /** May it receive a message on `topic` (checked on every delivery)? */
  canRead(who: Who, topic: string): boolean {
    return this.decide(READS, who, topic);
  }

  /** The first rule of these kinds that applies to the client and matches the topic decides. */
  private decide(kinds: ReadonlySet<Access>, who: Who, topic: string): boolean {
    if (this.empty) return true;
    for (const r of this.rules) {
      if (!kinds.has(r.access) || !applies(r, who)) continue;
      const f = filterFor(r, who);
      if (f !== undefined && topicMatches(f, topic)) return r.access !== 'deny';
    }
    return false;
  }

  /**
   * May it subscribe to `filter`? The first rule whose topics overlap the
   * filter decides; deliveries are checked again topic by topic.
   */
  canSubscribe(who: Who, filter: string): boolean {
    if (this.empty) return true;
    for (const r of this.rules) {
      if (!READS.has(r.access) || !applies(r, who)) continue;
      const f = filterFor(r, who);
      if (f === undefined || !filtersOverlap(f, filter)) continue;
      // A deny rule only refuses the subscription when it covers all of it.
      if (r.access === 'deny') {
        if (covers(f, filter)) return false;
        continue;
      }
      return true;
    }
    return false;
  }
}

/** Whether every topic that matches `inner` matches `outer`. */
export function covers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const n = inner.split('/');
  for (let i = 0; i < o.length; i++) {
    if (o[i] === '#') return true;
    if (i >= n.length) return false;
    if (n[i] === '#') return false;
    if (o[i] !== '+' && (n[i] === '+' || o[i] !== n[i])) return false;
  }
  return o.length === n.length;
}

/** Reads a mosquitto acl_file. */
export function parseMosquittoAcl(text: string): { rules: AclRule[]; problems: Array<{ line: number; message: string }> } {
  const deny: AclRule[] = [];
  const grant: AclRule[] = [];
  const problems: Array<{ line: number; message: string }> = [];
  let user: string | undefined = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    const kw = m?.[1];
    let rest = m?.[2]?.trim() ?? '';
    if (kw === 'user') {
      user = rest;
      return;
    }
    if (kw !== 'topic' && kw !== 'pattern') {
      problems.push({ line: i + 1, message: `unknown line ${JSON.stringify(line.slice(0, 40))}; expected user, topic or pattern` });
      return;
    }
    let access: Access = 'readwrite';
    const a = /^(read|write|readwrite|deny)\s+(.+)$/.exec(rest);
    if (a) {
      access = a[1] as Access;
      rest = a[2].trim();
    }
    const rule: AclRule = kw === 'pattern' ? { topic: rest, access } : { user, topic: rest, access };
    (access === 'deny' ? deny : grant).push(rule);
  });
  return { rules: [...deny, ...grant], problems };
}
