/**
 * The Sparkplug B host on the main thread. Edge nodes name metrics once, in
 * their BIRTH, and then send aliases; a chunk decoded on a worker (or replayed
 * after a restart, when the BIRTH's segment may be gone) must still resolve
 * them. So this keeps each edge node's alias table, persists it under
 * state_dir (one file per edge node, written off the hot path and coalesced:
 * a storm of births rewrites only the nodes that changed, at most every
 * quarter second, never on the broker's thread synchronously), and journals it as a Birth record ahead of the node's first
 * message in every chunk: each chunk decodes alone, the same way every time.
 * It also checks sequence numbers, asks for a Rebirth (NCMD "Node
 * Control/Rebirth", rate-limited) when the table is missing or a message was
 * lost, and publishes the host's STATE.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SerialQueue } from '../core/serial.js';
import type { JournalPort } from '../core/ports.js';
import { decodePayload, encodeBirth, parseTopic, rebirthPayload, scanSeq, type BirthMetric, type SparkplugTopic } from '../core/sparkplug.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface SparkplugOptions {
  hostId: string;
  rebirthMs: number;
  /** state_dir/sparkplug/births.json: read once if it exists (fieldgate before 0.2); the tables live in births/ beside it. */
  file: string;
}

interface EdgeNode {
  metrics: BirthMetric[];
  /** The chunk that last got this node's Birth record. */
  journaledIn: number;
  seq: number | undefined;
}

export type Publish = (topic: string, payload: Buffer, qos: 0 | 1, retain: boolean) => Promise<void>;

export class SparkplugHost {
  private readonly nodes = new Map<string, EdgeNode>();
  /** When each edge node was last asked for a rebirth. */
  private readonly lastRebirth = new Map<string, number>();
  /** Edge nodes whose table changed since the last write. */
  private readonly dirty = new Set<string>();
  private saveTimer: NodeJS.Timeout | undefined;
  private readonly saving = new SerialQueue();

  constructor(
    private readonly opts: SparkplugOptions,
    private readonly journal: JournalPort,
    private readonly publish: Publish,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  get stateTopic(): string {
    return `spBv1.0/STATE/${this.opts.hostId}`;
  }

  private get dir(): string {
    return join(dirname(this.opts.file), 'births');
  }

  start(now = Date.now()): void {
    try {
      const saved = JSON.parse(readFileSync(this.opts.file, 'utf8')) as Record<string, BirthMetric[]>;
      for (const [node, metrics] of Object.entries(saved)) {
        this.nodes.set(node, { metrics, journaledIn: -1, seq: undefined });
        this.dirty.add(node); // moved into births/ by the first save
      }
    } catch {
      // first start, or already moved
    }
    let files: string[] = [];
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.json'));
    } catch {
      // none yet
    }
    for (const f of files) {
      try {
        const { node, metrics } = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as { node: string; metrics: BirthMetric[] };
        this.nodes.set(node, { metrics, journaledIn: -1, seq: undefined });
      } catch {
        this.log.warn({ file: join(this.dir, f) }, 'sparkplug: an unreadable birth file is skipped; that edge node is asked for a rebirth when it sends');
      }
    }
    if (this.dirty.size) this.saveSoon();
    void this.publish(this.stateTopic, Buffer.from(JSON.stringify({ online: true, timestamp: now })), 1, true);
    this.log.info({ host_id: this.opts.hostId, edge_nodes: this.nodes.size }, 'sparkplug: host online');
  }

  async stop(now = Date.now()): Promise<void> {
    clearTimeout(this.saveTimer);
    await this.flush();
    await this.publish(this.stateTopic, Buffer.from(JSON.stringify({ online: false, timestamp: now })), 1, true);
  }

  /** Called for every spBv1.0/ message, before it is appended to the journal. */
  onMessage(topic: string, body: Buffer, now: number): void {
    const t = parseTopic(topic);
    if (!t || t.type === 'NCMD' || t.type === 'DCMD') return;
    let n = this.nodes.get(t.node);
    if (t.type === 'NBIRTH' || t.type === 'DBIRTH') {
      let p;
      try {
        p = decodePayload(body);
      } catch {
        return; // the worker counts it as bad_sparkplug
      }
      if (t.type === 'NBIRTH' || !n) {
        if (t.type === 'DBIRTH') this.rebirth(t, now, 'no_birth');
        // An NBIRTH starts the node afresh: its devices birth again after it.
        n = { metrics: t.type === 'NBIRTH' ? [] : (n?.metrics ?? []), journaledIn: -1, seq: undefined };
        this.nodes.set(t.node, n);
      }
      n.metrics = n.metrics.filter((m) => m[3] !== t.device);
      for (const m of p.metrics) if (m.name) n.metrics.push([m.alias ?? null, m.name, m.datatype ?? 0, t.device]);
      n.seq = p.seq;
      n.journaledIn = -1;
      this.dirty.add(t.node);
      this.saveSoon();
      this.metrics.sparkplugBirths.inc({ type: t.type });
    } else {
      if (!n) {
        this.rebirth(t, now, 'no_birth');
        return;
      }
      if (t.type !== 'NDEATH') {
        const seq = scanSeq(body);
        if (seq !== undefined && n.seq !== undefined && seq !== (n.seq + 1) % 256) {
          this.metrics.sparkplugSeqGaps.inc();
          this.rebirth(t, now, 'seq_gap');
        }
        if (seq !== undefined) n.seq = seq;
      }
    }
    // The alias table goes into this chunk ahead of the message (twice at most: the first may close a chunk).
    for (let i = 0; i < 2 && n.journaledIn !== this.journal.openChunkId; i++) {
      const id = this.journal.openChunkId;
      this.journal.appendBirth(now, encodeBirth({ node: t.node, metrics: n.metrics }));
      n.journaledIn = id;
    }
  }

  private rebirth(t: SparkplugTopic, now: number, reason: 'no_birth' | 'seq_gap'): void {
    if (now - (this.lastRebirth.get(t.node) ?? -Infinity) < this.opts.rebirthMs) return;
    this.lastRebirth.set(t.node, now);
    this.metrics.sparkplugRebirths.inc({ reason });
    this.log.warn({ edge_node: t.node, reason }, 'sparkplug: asking the edge node for a rebirth');
    void this.publish(`spBv1.0/${t.group}/NCMD/${t.edge}`, rebirthPayload(now), 0, false);
  }

  private saveSoon(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.flush();
    }, 250);
    this.saveTimer.unref();
  }

  /** Writes the changed edge nodes' tables, each to its own file (temp file, then rename). */
  private flush(): Promise<void> {
    return this.saving.run(async () => {
      const nodes = [...this.dirty];
      this.dirty.clear();
      if (!nodes.length) return;
      try {
        await mkdir(this.dir, { recursive: true });
        for (const node of nodes) {
          const n = this.nodes.get(node);
          if (!n) continue;
          const file = join(this.dir, `${createHash('sha1').update(node).digest('hex')}.json`);
          await writeFile(`${file}.tmp`, JSON.stringify({ node, metrics: n.metrics }));
          await rename(`${file}.tmp`, file);
        }
        await unlink(this.opts.file).catch(() => undefined); // the single file of fieldgate before 0.2
      } catch (err) {
        for (const node of nodes) this.dirty.add(node);
        this.log.warn({ err: (err as Error).message, dir: this.dir }, 'sparkplug: could not write birth tables; retrying (they are in the journal meanwhile)');
        this.saveSoon();
      }
    });
  }
}
