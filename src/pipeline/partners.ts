/**
 * The configured partners: one PartnerOutbox each, their cursors in the journal, the routes
 * that decode what they send us, and SIGHUP changes (added, removed, changed partners).
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { LoopProbe } from '../core/heartbeat.js';
import type { ShareResult, ShareSpec } from '../core/ports.js';
import type { RouteConfig } from '../encode/config.js';
import type { Journal } from '../journal/journal.js';
import type { PartnerConfig, PartnersConfig } from '../partners/config.js';
import { PartnerOutbox, cursorName, receivePrefix, type PartnerStatus } from '../partners/outbox.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface PartnerDeps {
  journal: Journal;
  gateway: string;
  idPrefix: () => string;
  decode(data: Buffer, spec: ShareSpec): Promise<ShareResult>;
  metrics: Metrics;
  log: Logger;
  stateDir: string;
}

const enabled = (ps: PartnersConfig) => ps.filter((p) => p.enabled);

/** The journal consumers partners add: their cursor names, and those that start at the journal's end. */
export function partnerCursors(ps: PartnersConfig): { names: string[]; startAtEnd: string[] } {
  const on = enabled(ps);
  return { names: on.map((p) => cursorName(p.name)), startAtEnd: on.filter((p) => p.from === 'end').map((p) => cursorName(p.name)) };
}

/** Cursor files of partners no longer configured (or disabled): they would hold nothing back, and a re-added partner starts afresh. */
export function removeStalePartnerCursors(stateDir: string, ps: PartnersConfig, log: Logger): void {
  const keep = new Set(partnerCursors(ps).names.map((n) => `${n}.json`));
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'cursors'));
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith('partner.') || !n.endsWith('.json') || keep.has(n)) continue;
    try {
      unlinkSync(join(stateDir, 'cursors', n));
      log.info({ cursor: n }, 'partners: removed the cursor of a partner that is no longer configured');
    } catch (err) {
      log.warn({ cursor: n, err: errorMessage(err) }, 'partners: could not remove a stale cursor');
    }
  }
}

/** Routes that decode what partners send (journaled under $partner/<name>/), rows with source partner:<name>. */
export function receiveRoutes(ps: PartnersConfig): RouteConfig[] {
  return enabled(ps).flatMap((p) =>
    p.receive.map((r) => ({
      topic: receivePrefix(p.name) + r.topic,
      format: r.format,
      device: r.device,
      tag: r.tag,
      columns: [],
      table: undefined,
      source: `partner:${p.name}`,
    })),
  );
}

export class PartnerSet {
  private readonly outboxes = new Map<string, { cfg: PartnerConfig; box: PartnerOutbox }>();

  constructor(private readonly d: PartnerDeps) {}

  private make(cfg: PartnerConfig): PartnerOutbox {
    const d = this.d;
    return new PartnerOutbox({
      cfg,
      gateway: d.gateway,
      idPrefix: d.idPrefix(),
      journal: d.journal,
      decode: (data, spec) => d.decode(data, spec),
      metrics: d.metrics,
      log: d.log,
      stateDir: d.stateDir,
    });
  }

  start(ps: PartnersConfig): void {
    for (const cfg of enabled(ps)) {
      const box = this.make(cfg);
      this.outboxes.set(cfg.name, { cfg, box });
      box.start();
    }
    if (this.outboxes.size) this.d.log.info({ partners: [...this.outboxes.keys()] }, 'partners: started');
  }

  /** SIGHUP: a new partner starts (at the journal's end unless from: earliest); a removed one stops and its cursor goes; a changed one restarts from its cursor. */
  async reload(ps: PartnersConfig): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const next = new Map(enabled(ps).map((p) => [p.name, p]));
    const out = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
    for (const [name, cur] of this.outboxes) {
      const n = next.get(name);
      if (n && JSON.stringify(n) === JSON.stringify(cur.cfg)) continue;
      await cur.box.stop();
      this.outboxes.delete(name);
      if (n) out.changed.push(name);
      else {
        this.d.journal.removeCursor(cursorName(name));
        out.removed.push(name);
      }
    }
    for (const [name, cfg] of next) {
      if (this.outboxes.has(name)) continue;
      if (!out.changed.includes(name)) {
        this.d.journal.addCursor(cursorName(name), cfg.from);
        out.added.push(name);
      }
      const box = this.make(cfg);
      this.outboxes.set(name, { cfg, box });
      box.start();
    }
    return out;
  }

  probes(): LoopProbe[] {
    return [...this.outboxes.values()].map((x) => x.box.probe);
  }

  statuses(): PartnerStatus[] {
    return [...this.outboxes.values()].map((x) => x.box.status());
  }

  async stop(): Promise<void> {
    await Promise.all([...this.outboxes.values()].map((x) => x.box.stop()));
  }
}
