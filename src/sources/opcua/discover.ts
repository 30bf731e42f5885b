/**
 * `fieldgate discover opcua <endpoint>`: browses a server's address space and
 * prints an `opcua:` section whose `nodes:` list `fieldgate validate` accepts.
 * Node ids are written in the nsu= form, which survives a server renumbering
 * its namespaces; tags are the browse names below the start node.
 */
import { OpcuaLink, OpcuaPki, type LinkOptions } from './client.js';
import { parseBrowsePath, stableNodeId } from './nodeid.js';
import { effectiveLimits } from './plan.js';

export interface DiscoverOptions {
  endpoint: string;
  name: string;
  link: Omit<LinkOptions, 'endpoint' | 'clientName'>;
  pkiDir: string;
  /** Where to start: a browse path (default /Objects). */
  root: string;
  depth: number;
  /** Only variables whose tag matches. */
  filter?: RegExp;
  max: number;
}

export interface Found {
  nodeId: string;
  tag: string;
  dataType: string;
}

export async function discover(o: DiscoverOptions): Promise<{ found: Found[]; truncated: boolean }> {
  const pki = new OpcuaPki(o.pkiDir);
  let link: OpcuaLink | undefined;
  try {
    link = await OpcuaLink.open({ ...o.link, endpoint: o.endpoint, clientName: 'fieldgate-discover' }, pki, () => undefined);
    const segs = parseBrowsePath(o.root);
    if (typeof segs === 'string') throw new Error(`--root ${o.root}: ${segs}`);
    let start = 'i=84';
    for (const seg of segs) {
      const hit = (await link.children(start)).find((k) => k.name === seg.name && (seg.ns === undefined || k.ns === seg.ns));
      if (!hit) throw new Error(`--root ${o.root}: no node ${seg.name} under ${start}`);
      start = hit.nodeId;
    }
    const found: Array<Omit<Found, 'dataType'>> = [];
    const seenNodes = new Set<string>([start]);
    const tags = new Set<string>();
    let frontier = [{ nodeId: start, path: '' }];
    let truncated = false;
    for (let d = 0; d < o.depth && frontier.length && !truncated; d++) {
      const next: typeof frontier = [];
      for (const f of frontier) {
        for (const c of await link.children(f.nodeId)) {
          // The server's own diagnostics (namespace 0) and properties are not plant values.
          if (c.ns === 0 || c.property || seenNodes.has(c.nodeId)) continue;
          seenNodes.add(c.nodeId);
          const path = f.path ? `${f.path}/${c.name}` : c.name;
          if (c.nodeClass === 'Variable' && (!o.filter || o.filter.test(path))) {
            let tag = path;
            for (let i = 2; tags.has(tag); i++) tag = `${path}~${i}`;
            tags.add(tag);
            found.push({ nodeId: stableNodeId(c.nodeId, link.namespaces), tag });
            if (found.length >= o.max) {
              truncated = true;
              break;
            }
          }
          next.push({ nodeId: c.nodeId, path });
        }
        if (truncated) break;
      }
      frontier = next;
    }
    // Data types for the comments, in reads the server's MaxNodesPerRead allows.
    const perRead = effectiveLimits(await link.limits(), {}).maxNodesPerRead;
    const types: string[] = [];
    for (let i = 0; i < found.length; i += perRead) {
      const ids = found.slice(i, i + perRead).map((f) => f.nodeId.replace(/^nsu=([^;]*);/, (_, uri: string) => `ns=${link!.namespaces.indexOf(uri)};`));
      types.push(...(await link.dataTypes(ids)));
    }
    return { found: found.map((f, i) => ({ ...f, dataType: types[i] ?? '' })), truncated };
  } finally {
    await link?.close();
    await pki.manager.dispose().catch(() => undefined);
  }
}

/** The YAML printed by the command. */
export function discoveryYaml(o: DiscoverOptions, r: { found: Found[]; truncated: boolean }): string {
  const q = (s: string) => JSON.stringify(s);
  const sec = o.link.securityMode === 'None' ? '{ mode: None }' : `{ mode: ${o.link.securityMode}, policy: ${o.link.securityPolicy} }`;
  const lines = [
    `# fieldgate discover opcua ${o.endpoint}: ${r.found.length} variables under ${o.root} (depth ${o.depth})${r.truncated ? `, stopped at --max ${o.max}` : ''}`,
    'opcua:',
    '  servers:',
    `    - name: ${q(o.name)}`,
    `      endpoint: ${q(o.endpoint)}`,
    `      security: ${sec}`,
    ...(o.link.auth.type === 'username'
      ? [`      # auth: { type: username, username: ${q(o.link.auth.username ?? '')}, password_file: /etc/fieldgate/${o.name}.pass }`]
      : []),
    r.found.length ? '      nodes:' : '      nodes: []',
    ...r.found.map((f) => `        - { node_id: ${q(f.nodeId)}, tag: ${q(f.tag)} }${f.dataType ? `   # ${f.dataType}` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}
