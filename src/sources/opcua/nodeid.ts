/**
 * Node references as integrators write them, parsed without a server:
 * `ns=3;s=Line3.Oven.Temp`, `nsu=urn:plant:line3;i=1001`, `i=2258`, and browse
 * paths such as `/Objects/Line3/Press/Counter` (a segment may name its
 * namespace index: `/Objects/2:Line3`). Namespace URIs are resolved against the
 * server's namespace array at connect time, because indices may move when a
 * server restarts with other models loaded; URIs do not.
 */

export interface NodeIdRef {
  /** Namespace index, when written as ns=. */
  ns?: number;
  /** Namespace URI, when written as nsu=. */
  nsu?: string;
  /** The identifier part: i=…, s=…, g=… or b=… */
  id: string;
}

export interface BrowseSegment {
  ns?: number;
  name: string;
}

const ID = /^(i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+)$/s;

/** Parses a node id; returns an error text (what was expected) when it is not one. */
export function parseNodeId(text: string): NodeIdRef | string {
  const expected = 'expected ns=<index>;<id>, nsu=<namespace URI>;<id> or <id>, where <id> is i=<number>, s=<string>, g=<guid> or b=<base64>';
  let rest = text.trim();
  let ns: number | undefined;
  let nsu: string | undefined;
  const m = /^(ns|nsu)=([^;]*);(.*)$/s.exec(rest);
  if (m) {
    if (m[1] === 'ns') {
      if (!/^\d{1,5}$/.test(m[2]) || Number(m[2]) > 65_535) return `namespace index ${JSON.stringify(m[2])} is not a number 0–65535; ${expected}`;
      ns = Number(m[2]);
    } else {
      if (!m[2]) return `empty namespace URI; ${expected}`;
      nsu = m[2];
    }
    rest = m[3]!;
  }
  if (!ID.test(rest)) return expected;
  if (rest.startsWith('i=') && Number(rest.slice(2)) > 0xffff_ffff) return `numeric identifier ${rest.slice(2)} is past 4294967295`;
  return { ...(ns !== undefined ? { ns } : {}), ...(nsu !== undefined ? { nsu } : {}), id: rest };
}

/** Writes a node id with a namespace index, resolving nsu= against the server's namespace array. */
export function resolveNodeId(ref: NodeIdRef, namespaces: readonly string[]): string | undefined {
  let ns = ref.ns ?? 0;
  if (ref.nsu !== undefined) {
    ns = namespaces.indexOf(ref.nsu);
    if (ns < 0) return undefined;
  }
  return ns === 0 ? ref.id : `ns=${ns};${ref.id}`;
}

/** Writes a node id in the nsu= form (stable across server restarts), for discovery output. */
export function stableNodeId(nodeId: string, namespaces: readonly string[]): string {
  const m = /^ns=(\d+);(.*)$/s.exec(nodeId);
  if (!m) return nodeId;
  const uri = namespaces[Number(m[1])];
  return uri ? `nsu=${uri};${m[2]}` : nodeId;
}

/** Parses a browse path from the root folder: /Objects/Line3/Press/Counter. */
export function parseBrowsePath(text: string): BrowseSegment[] | string {
  if (!text.startsWith('/')) return 'expected a path from the root folder such as /Objects/Line3/Press/Counter';
  const parts = text.slice(1).split('/');
  const out: BrowseSegment[] = [];
  for (const p of parts) {
    if (!p) return 'a browse path segment is empty; expected /Objects/<name>/… with no doubled or trailing /';
    const m = /^(\d{1,5}):(.+)$/s.exec(p);
    out.push(m ? { ns: Number(m[1]), name: m[2] } : { name: p });
  }
  return out;
}
