/**
 * What the web console shows, as JSON: the overview (health of every part, rates, journal, disk,
 * last errors, what needs attention first), the devices with their tags' last values and
 * sparklines, a tag's series over a time range (raw rows for short ranges, the rollups past a few
 * hours), the dead letters and the partners. Reads the status the gateway keeps, the metrics
 * registry and the first sink's store (through the gateway's read-only, limited query path).
 */
import { open } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import type { RecentEntry, RecentLogs } from '../telemetry/logger.js';

export interface StoreInfo {
  database: string;
  table: string;
  /** DateTime64 ts (20.x and later, the embedded store); before, ts is Int64 milliseconds. */
  modern: boolean;
  rollups: boolean;
}

export interface ConsoleHost {
  status(): Record<string, unknown>;
  registry: Registry;
  query(sql: string, format: string): Promise<Buffer>;
  recent: RecentLogs;
  store(): StoreInfo | undefined;
  /** Engineering units of configured tags: `device\u0000tag` → unit. */
  units(): Map<string, string>;
  /** The configured pollers: Modbus devices and OPC UA servers (their names are devices). */
  sources(): Array<{ kind: 'modbus' | 'opcua'; name: string }>;
  /** The dead-letter files, oldest first. */
  deadLetterFiles(): Promise<Array<{ path: string; size: number }>>;
  gatewayId: string;
}

export interface Attention {
  level: 'error' | 'warn';
  what: string;
  detail: string;
}

/** Time ranges a chart offers, in ms. */
export const RANGES: Record<string, number> = {
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};
/** Up to this range a chart reads the raw rows; past it, the rollups. */
const RAW_UP_TO = 6 * 3_600_000;
/** Points a chart draws at most. */
const CHART_POINTS = 400;

function sq(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
function ident(s: string): string {
  return '`' + s.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
}

export class ConsoleApi {
  private readonly started = Date.now();
  private last: { at: number; messages: number; points: number } | undefined;
  private rates = { messages_per_s: 0, rows_per_s: 0 };

  constructor(private readonly host: ConsoleHost) {}

  private async samples(name: string): Promise<Sample[]> {
    const m = this.host.registry.getSingleMetric(name);
    if (!m) return [];
    const r = await m.get();
    return r.values.map((v) => ({ labels: v.labels as Record<string, string | number>, value: v.value }));
  }

  private async total(name: string): Promise<number> {
    return (await this.samples(name)).reduce((a, s) => a + s.value, 0);
  }

  /** Everything the overview page shows; rates are over the time since the previous call (at least 1 s). */
  async overview(): Promise<Record<string, unknown>> {
    const st = this.host.status();
    const now = Date.now();
    const messages = await this.total('fieldgate_mqtt_messages_received_total');
    // Rows the first sink stored (each sink decodes every chunk: summing over sinks would count twice).
    const first = (st.sinks as Array<{ name: string }> | undefined)?.[0]?.name;
    const points = (await this.samples('fieldgate_sink_rows_inserted_total')).filter((x) => x.labels.sink === first).reduce((a, x) => a + x.value, 0);
    if (this.last && now - this.last.at >= 1000) {
      const s = (now - this.last.at) / 1000;
      this.rates = { messages_per_s: Math.max(0, (messages - this.last.messages) / s), rows_per_s: Math.max(0, (points - this.last.points) / s) };
    }
    if (!this.last || now - this.last.at >= 1000) this.last = { at: now, messages, points };

    const modbusUp = new Map((await this.samples('fieldgate_modbus_connected')).map((s) => [String(s.labels.device), s.value]));
    const modbusLast = new Map((await this.samples('fieldgate_modbus_last_success_timestamp_seconds')).map((s) => [String(s.labels.device), s.value]));
    const opcuaUp = new Map((await this.samples('fieldgate_opcua_session_up')).map((s) => [String(s.labels.server), s.value]));
    const sources = this.host
      .sources()
      .map((x) =>
        x.kind === 'modbus'
          ? { ...x, up: modbusUp.get(x.name) === 1, last_success: (modbusLast.get(x.name) ?? 0) * 1000 || undefined }
          : { ...x, up: opcuaUp.get(x.name) === 1 },
      );
    const journal = {
      bytes: await this.total('fieldgate_journal_bytes'),
      segments: await this.total('fieldgate_journal_segments'),
      dropped: await this.total('fieldgate_journal_dropped_records_total'),
      ...(st.journal as object),
    };
    const dead = await this.deadLetterSummary(false);
    const recent = this.host.recent.list();
    const overview = {
      time: now,
      uptime_s: Math.round((now - this.started) / 1000),
      gateway_id: this.host.gatewayId,
      ready: st.ready,
      broker: { ...(st.broker as object), clients: await this.total('fieldgate_broker_clients') },
      sources,
      sinks: st.sinks,
      partners: st.partners,
      stores: st.stores,
      rates: this.rates,
      journal,
      disk: st.disk,
      stalled: st.stalled,
      dead_letters: { files: dead.files, bytes: dead.bytes },
      recent: recent.slice(0, 20),
      recent_total: this.host.recent.total,
    };
    return { ...overview, attention: attention(overview, recent) };
  }

  private async rows(sql: string): Promise<unknown[][]> {
    const r = JSON.parse((await this.host.query(sql, 'JSONCompact')).toString('utf8')) as { data: unknown[][] };
    return r.data;
  }

  private need(): StoreInfo {
    const s = this.host.store();
    if (!s) throw new Error('the store is not open yet');
    return s;
  }

  private since(s: StoreInfo, ms: number): string {
    return s.modern ? `ts >= toDateTime64(${(ms / 1000).toFixed(3)}, 3, 'UTC')` : `ts >= ${ms}`;
  }

  private msOf(s: StoreInfo, expr: string): string {
    return s.modern ? `toUnixTimestamp64Milli(${expr})` : expr;
  }

  private devicesCache: { at: number; value: Promise<Record<string, unknown>> } | undefined;

  /** Every device seen (one answer per 2 s for all open pages: polls from many pages are one query). */
  devices(): Promise<Record<string, unknown>> {
    const now = Date.now();
    if (!this.devicesCache || now - this.devicesCache.at > 2000) {
      const value = this.readDevices();
      value.catch(() => (this.devicesCache = undefined));
      this.devicesCache = { at: now, value };
    }
    return this.devicesCache.value;
  }

  /** Every device seen: its tags' last values (the last 15 minutes), sparklines, and when quieter tags were last seen (rollups). */
  private async readDevices(): Promise<Record<string, unknown>> {
    const s = this.need();
    const t = `${ident(s.database)}.${ident(s.table)}`;
    const from = Date.now() - RANGES['15m'];
    const last = await this.rows(
      `SELECT device, tag, argMax(value, ts), argMax(text, ts), argMax(quality, ts), ${this.msOf(s, 'max(ts)')}, argMax(source, ts), count() ` +
        `FROM ${t} WHERE ${this.since(s, from)} GROUP BY device, tag ORDER BY device, tag LIMIT 20000`,
    );
    const spark = await this.rows(
      `SELECT device, tag, intDiv(${this.msOf(s, 'ts')}, 30000) * 30000 AS b, avg(value) FROM ${t} ` +
        `WHERE ${this.since(s, from)} AND quality = 0 AND isFinite(value) GROUP BY device, tag, b ORDER BY device, tag, b LIMIT 1000000`,
    );
    const older = s.rollups
      ? await this.rows(`SELECT device, tag, toUInt32(max(t)) * 1000 FROM ${ident(s.database)}.${ident(s.table + '_1h')} GROUP BY device, tag LIMIT 20000`)
      : [];
    const units = this.host.units();
    const sources = new Map(this.host.sources().map((x) => [x.name, x.kind]));
    const key = (d: unknown, g: unknown) => `${String(d)}\u0000${String(g)}`;
    const lines = new Map<string, Array<[number, number]>>();
    for (const [d, g, b, v] of spark) {
      const k = key(d, g);
      let l = lines.get(k);
      if (!l) lines.set(k, (l = []));
      l.push([Number(b), Number(v)]);
    }
    const devices = new Map<string, { name: string; source: string; last_seen: number; tags: Array<Record<string, unknown>> }>();
    const dev = (name: string, source: string) => {
      let x = devices.get(name);
      if (!x) devices.set(name, (x = { name, source, last_seen: 0, tags: [] }));
      return x;
    };
    const seen = new Set<string>();
    for (const [d, g, v, x, q, at, src, n] of last) {
      const name = String(d);
      const k = key(d, g);
      seen.add(k);
      const o = dev(name, sources.get(name) ?? String(src));
      o.last_seen = Math.max(o.last_seen, Number(at));
      o.tags.push({
        tag: String(g),
        value: v === null || v === 'nan' || v === 'NaN' ? null : Number(v),
        text: String(x),
        quality: Number(q),
        at: Number(at),
        count_15m: Number(n),
        unit: units.get(k),
        spark: lines.get(k) ?? [],
      });
    }
    for (const [d, g, at] of older) {
      const k = key(d, g);
      if (seen.has(k)) continue;
      const name = String(d);
      const o = dev(name, sources.get(name) ?? 'mqtt');
      o.last_seen = Math.max(o.last_seen, Number(at));
      o.tags.push({ tag: String(g), value: null, text: '', quality: null, at: Number(at), count_15m: 0, unit: units.get(k), spark: [] });
    }
    const list = [...devices.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const d of list) d.tags.sort((a, b) => String(a.tag).localeCompare(String(b.tag)));
    return { time: Date.now(), devices: list };
  }

  /** One tag over a range: [t ms, min, avg, max] per bucket; raw rows up to 6 h (or when asked), then the 1-minute rollup, past 7 d the hourly one. */
  async series(device: string, tag: string, range: string, o: { to?: number; raw?: boolean } = {}): Promise<Record<string, unknown>> {
    const to = o.to ?? Date.now();
    const s = this.need();
    const span = RANGES[range];
    if (span === undefined) throw new RangeError(`range: one of ${Object.keys(RANGES).join(', ')}`);
    const from = to - span;
    const where = `device = ${sq(device)} AND tag = ${sq(tag)}`;
    let sql: string;
    let source: string;
    if (span <= RAW_UP_TO || !s.rollups || o.raw) {
      const bucket = Math.max(1000, Math.ceil(span / CHART_POINTS / 1000) * 1000);
      source = s.table;
      sql =
        `SELECT intDiv(${this.msOf(s, 'ts')}, ${bucket}) * ${bucket} AS b, min(value), avg(value), max(value) FROM ${ident(s.database)}.${ident(s.table)} ` +
        `WHERE ${where} AND ${this.since(s, from)} AND quality = 0 AND isFinite(value) GROUP BY b ORDER BY b`;
    } else {
      const hourly = span > 7 * 86_400_000;
      const step = hourly ? 3600 : 60;
      const bucket = Math.max(step, Math.ceil(span / CHART_POINTS / 1000 / step) * step);
      source = s.table + (hourly ? '_1h' : '_1m');
      sql =
        `SELECT intDiv(toUInt32(t), ${bucket}) * ${bucket} * 1000 AS b, minMerge(min_value), avgMerge(avg_value), maxMerge(max_value) ` +
        `FROM ${ident(s.database)}.${ident(source)} WHERE ${where} AND t >= toDateTime(${Math.floor(from / 1000)}) GROUP BY b ORDER BY b`;
    }
    const t0 = performance.now();
    const data = (await this.rows(sql)).map((r) => r.map(Number));
    return { device, tag, range, from, to, source, query_ms: Math.round(performance.now() - t0), unit: this.host.units().get(`${device}\u0000${tag}`), data };
  }

  /** Dead-letter files, their size, the reasons counted in the newest file and a sample. */
  async deadLetterSummary(detail = true): Promise<{ files: number; bytes: number; reasons?: Record<string, number>; sample?: unknown[] }> {
    const files = await this.host.deadLetterFiles();
    const out = { files: files.length, bytes: files.reduce((a, f) => a + f.size, 0) };
    if (!detail) return out;
    const reasons: Record<string, number> = {};
    const sample: unknown[] = [];
    // Reasons and a sample from the newest files, reading at most 1 MiB of each.
    for (const f of files.slice(-5).reverse()) {
      const fh = await open(f.path, 'r');
      try {
        const buf = Buffer.alloc(Math.min(f.size, 1024 * 1024));
        await fh.read(buf, 0, buf.length, 0);
        for (const line of buf.toString('utf8').split('\n')) {
          if (!line) continue;
          try {
            const l = JSON.parse(line) as { reason?: string; payload?: string };
            const r = (l.reason ?? 'unknown').split('\n')[0].slice(0, 200);
            reasons[r] = (reasons[r] ?? 0) + 1;
            if (sample.length < 5) sample.push({ ...l, payload: typeof l.payload === 'string' ? l.payload.slice(0, 500) : l.payload, file: f.path });
          } catch {
            // a torn last line
          }
        }
      } finally {
        await fh.close();
      }
    }
    return { ...out, reasons, sample };
  }
}

/** What needs attention first: errors before warnings, each part that is down or behind. */
export function attention(o: Record<string, unknown>, recent: RecentEntry[]): Attention[] {
  const out: Attention[] = [];
  const j = o.journal as { blocked?: boolean; dropped?: number };
  if (j.blocked)
    out.push({
      level: 'error',
      what: 'journal',
      detail: 'the journal is full and withholds acknowledgements (on_full: block): the store is not keeping up or the disk is full',
    });
  if (o.pushback)
    out.push({
      level: 'warn',
      what: 'broker',
      detail: 'the store is falling behind: MQTT publishers are held back (no PUBACK) until it is within batch.max_lag',
    });
  if ((o.disk as { low?: boolean }).low) out.push({ level: 'error', what: 'disk', detail: 'free space on state_dir is below journal.min_free_bytes' });
  for (const x of o.stalled as Array<{ loop: string }>) out.push({ level: 'error', what: x.loop, detail: 'has work and makes no progress' });
  for (const s of o.sinks as Array<{ name: string; state: string; lagChunks?: number; lastError?: string }>) {
    if (s.state === 'failing') out.push({ level: 'error', what: `sink ${s.name}`, detail: s.lastError ?? 'failing' });
    else if (s.state !== 'connected')
      out.push({ level: 'warn', what: `sink ${s.name}`, detail: `${s.state}${s.lagChunks ? `, ${s.lagChunks} chunks waiting in the journal` : ''}` });
  }
  for (const s of o.sources as Array<{ kind: string; name: string; up: boolean }>)
    if (!s.up) out.push({ level: 'warn', what: `${s.kind === 'modbus' ? 'Modbus device' : 'OPC UA server'} ${s.name}`, detail: 'not connected' });
  for (const p of (o.partners as Array<{ name: string; state: string; lastError?: string; backlogRecords: number }> | undefined) ?? [])
    if (p.state !== 'connected')
      out.push({
        level: p.state === 'failing' ? 'error' : 'warn',
        what: `partner ${p.name}`,
        detail: `${p.state}${p.lastError ? `: ${p.lastError}` : ''}, ${p.backlogRecords} records waiting`,
      });
  if (j.dropped) out.push({ level: 'warn', what: 'journal', detail: `${j.dropped} records dropped by on_full: drop_oldest since start` });
  const d = o.dead_letters as { files: number };
  if (d.files) out.push({ level: 'warn', what: 'dead letters', detail: `${d.files} file(s) of rows the store refused: see Dead letters` });
  const errs = recent.filter((r) => r.level === 'error' || r.level === 'fatal');
  if (errs.length && !out.length) out.push({ level: 'warn', what: 'log', detail: `last error: ${errs[0].msg}` });
  return out.sort((a, b) => (a.level === b.level ? 0 : a.level === 'error' ? -1 : 1));
}
