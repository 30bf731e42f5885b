/**
 * Version-adaptive DDL. The row encoding never changes; only the column types
 * do: servers before 20.x have no DateTime64, codecs or TTL, and there ts is
 * Int64 milliseconds and the LowCardinality columns are String.
 */
import type { ClickHouseConfig } from './config.js';

export interface ServerFeatures {
  version: string;
  major: number;
  minor: number;
  /** insert_deduplication_token setting (22.2+). */
  dedupToken: boolean;
  /** non_replicated_deduplication_window MergeTree setting. */
  dedupWindow: boolean;
  embedded: boolean;
}

export function parseVersion(v: string): { major: number; minor: number } {
  const m = /^(\d+)\.(\d+)/.exec(v.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : { major: 0, minor: 0 };
}

export function modern(f: ServerFeatures): boolean {
  return f.major >= 20;
}

export function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

export interface PointsDdlOptions {
  database: string;
  table: string;
  ttlMs?: number;
  dedupWindow: number;
  /** A cluster: the rows live in `<table>_local` (ReplicatedMergeTree) on every replica, `<table>` is a Distributed table over them. */
  cluster?: string;
  /** The 1-minute and 1-hour rollups with their TTLs (ms, 0 = forever); left out = no rollups. */
  rollups?: { minuteMs: number; hourMs: number };
  /** The staging table exists already (made when the server needed it): keep inserting through it. */
  staged?: boolean;
}

/** The DDL options of a sink's configuration. */
export function ddlOptions(c: ClickHouseConfig): PointsDdlOptions {
  return {
    database: c.database,
    table: c.table,
    ttlMs: c.retention.raw ?? c.ttl,
    dedupWindow: c.dedup_window,
    cluster: c.cluster,
    ...(c.rollups ? { rollups: { minuteMs: c.retention.minute, hourMs: c.retention.hour } } : {}),
  };
}

/** The rollups of a points table: `<table>_1m` and `<table>_1h`, each filled by its materialized view `<table>_1m_mv`. */
export const ROLLUPS = [
  { suffix: '_1m', bucket: 'toStartOfMinute', ttl: 'minuteMs' },
  { suffix: '_1h', bucket: 'toStartOfHour', ttl: 'hourMs' },
] as const;

/**
 * Whether rows go in through a staging table. A server without insert tokens (before 22.2) does not
 * push a block its deduplicating table drops as a repeat to that table's views (18.16: "Don't process
 * materialized views if this block is duplicate"). A replica killed after storing a block's rows but
 * before its rollups leaves the retry on another replica with a repeat, so the rollups would miss
 * the block for good. There the rows go into a Null table, `<table>_in`, whose views fill the points
 * table and each rollup: every target deduplicates its own block (by checksum), none is skipped.
 */
export function stagedInserts(f: ServerFeatures, o: PointsDdlOptions): boolean {
  return !!o.staged || (!!o.rollups && !f.dedupToken && (!!o.cluster || (f.dedupWindow && o.dedupWindow > 0)));
}

/** The staging table of a points table (see stagedInserts). */
export function stagingTable(table: string): string {
  return `${table}_in`;
}

/** The tables DDL makes for a points table (before the materialized views): what must exist for it to be skipped. */
export function ddlTables(f: ServerFeatures, o: PointsDdlOptions): string[] {
  const base = [o.table, ...(o.rollups ? ROLLUPS.map((r) => o.table + r.suffix) : []), ...(stagedInserts(f, o) ? [stagingTable(o.table)] : [])];
  return o.cluster ? base.flatMap((t) => [localTable(t, o.cluster), t]) : base;
}

/** The dedup window (replicated, or by insert token) and, embedded, the fsync settings of a table rows are inserted into. */
function tableSettings(f: ServerFeatures, o: PointsDdlOptions): string[] {
  const settings: string[] = [];
  if (o.cluster) {
    if (o.dedupWindow > 0) settings.push(`replicated_deduplication_window = ${o.dedupWindow}`);
  } else if (f.dedupWindow && o.dedupWindow > 0) settings.push(`non_replicated_deduplication_window = ${o.dedupWindow}`);
  // Embedded: a power cut must not lose a part the cursor has already passed.
  if (f.embedded) settings.push('fsync_after_insert = 1', 'fsync_part_directory = 1');
  return settings;
}

function ttlDays(ms: number): number {
  return Math.max(1, Math.round(ms / 86_400_000));
}

/** The table the rows live in: with a cluster, the replicated local table behind the Distributed one. */
export function localTable(table: string, cluster: string | undefined): string {
  return cluster ? `${table}_local` : table;
}

/** The gateway_id column: which gateway wrote the row (fleets of gateways write into one store). */
export function gatewayColumnType(f: ServerFeatures): string {
  return modern(f) ? 'LowCardinality(String)' : 'String';
}

function columns(f: ServerFeatures): string {
  if (!modern(f)) return 'ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String';
  return (
    `ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)), ` +
    `device LowCardinality(String), ` +
    `tag LowCardinality(String), ` +
    `value Float64 CODEC(Gorilla, ZSTD(1)), ` +
    `text String CODEC(ZSTD(1)), ` +
    `quality UInt32 CODEC(T64, ZSTD(1)), ` +
    `source LowCardinality(String), ` +
    `gateway_id LowCardinality(String)`
  );
}

/**
 * The database and the points table, as the server's version allows. With a cluster: ON CLUSTER,
 * a ReplicatedMergeTree under /clickhouse/tables/{shard}/<db>/<table>_local with the {shard} and
 * {replica} macros (its replicas deduplicate a block inserted again on any of them), and a
 * Distributed table sharded by device over it.
 */
export function pointsDdl(f: ServerFeatures, o: PointsDdlOptions): string[] {
  const db = quoteIdent(o.database);
  const on = o.cluster ? ` ON CLUSTER ${quoteIdent(o.cluster)}` : '';
  const local = localTable(o.table, o.cluster);
  const t = `${db}.${quoteIdent(local)}`;
  const engine = o.cluster ? `ReplicatedMergeTree('/clickhouse/tables/{shard}/${o.database}/${local}', '{replica}')` : 'MergeTree';
  const settings = tableSettings(f, o);
  const partition = modern(f) ? 'toYYYYMM(ts)' : 'toYYYYMM(toDateTime(intDiv(ts, 1000)))';
  const ttl = modern(f) && o.ttlMs && o.ttlMs > 0 ? ` TTL toDateTime(ts) + INTERVAL ${ttlDays(o.ttlMs)} DAY` : '';
  const out = [
    `CREATE DATABASE IF NOT EXISTS ${db}${on}`,
    `CREATE TABLE IF NOT EXISTS ${t}${on} (${columns(f)}) ENGINE = ${engine} PARTITION BY ${partition} ORDER BY (device, tag, ts)${ttl}` +
      (settings.length ? ` SETTINGS ${settings.join(', ')}` : ''),
  ];
  if (o.cluster) out.push(distributedDdl(f, o, o.table));
  if (stagedInserts(f, o)) {
    const staging = localTable(stagingTable(o.table), o.cluster);
    out.push(`CREATE TABLE IF NOT EXISTS ${db}.${quoteIdent(staging)}${on} (${columns(f)}) ENGINE = Null`);
    if (o.cluster) out.push(distributedDdl(f, o, stagingTable(o.table)));
    out.push(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${quoteIdent(local + '_mv')}${on} TO ${t} AS ` +
        `SELECT ts, device, tag, value, text, quality, source, gateway_id FROM ${db}.${quoteIdent(staging)}`,
    );
  }
  if (o.rollups) out.push(...rollupDdl(f, o, o.rollups));
  return out;
}

/** With a cluster: the Distributed table `table` over `<table>_local` on every shard, sharded by device. */
function distributedDdl(f: ServerFeatures, o: PointsDdlOptions, table: string): string {
  const db = quoteIdent(o.database);
  return (
    `CREATE TABLE IF NOT EXISTS ${db}.${quoteIdent(table)} ON CLUSTER ${quoteIdent(o.cluster!)} (${columns(f)}) ` +
    `ENGINE = Distributed(${quoteIdent(o.cluster!)}, ${db}, ${quoteIdent(localTable(table, o.cluster))}, cityHash64(device))`
  );
}

/**
 * The rollups: per device, tag and minute (hour), min/max/avg/last/count of the good numeric values
 * (quality 0, value finite: text values are NaN), as AggregatingMergeTree states, each filled by a
 * materialized view on the table the rows are inserted into. They stay exact under retries: with
 * insert tokens, each view's block carries a token derived from the insert's and the rollup drops a
 * repeat (deduplicate_blocks_in_dependent_materialized_views); without them, the views hang off the
 * staging table and each rollup drops a repeated block by its checksum (see stagedInserts). With a
 * cluster: a replicated local rollup per shard behind a Distributed table, the view on the local table.
 */
function rollupDdl(f: ServerFeatures, o: PointsDdlOptions, r: NonNullable<PointsDdlOptions['rollups']>): string[] {
  const db = quoteIdent(o.database);
  const on = o.cluster ? ` ON CLUSTER ${quoteIdent(o.cluster)}` : '';
  const staged = stagedInserts(f, o);
  const source = `${db}.${quoteIdent(localTable(staged ? stagingTable(o.table) : o.table, o.cluster))}`;
  const m = modern(f);
  const lc = m ? 'LowCardinality(String)' : 'String';
  const tsType = m ? "DateTime64(3, 'UTC')" : 'Int64';
  const cols =
    `device ${lc}, tag ${lc}, t DateTime${m ? "('UTC')" : ''}, ` +
    `min_value AggregateFunction(min, Float64), max_value AggregateFunction(max, Float64), avg_value AggregateFunction(avg, Float64), ` +
    `last_value AggregateFunction(argMax, Float64, ${tsType}), n AggregateFunction(count)`;
  const tsTime = m ? 'toDateTime(ts)' : 'toDateTime(intDiv(ts, 1000))';
  // In the embedded store the hourly view reads what the minute view inserts, not every row again:
  // the inserted block is already grouped by minute, and the second GROUP BY over all the rows was
  // ~0.1 µs of chDB's CPU per row (a fifth of its insert). Merged states are exact, and the derived
  // tokens deduplicate a repeated block at both levels (test/sinks/rollup-dedup.test.ts). Servers
  // keep two views on the rows: their versions vary, and deduplication through a cascade of views
  // is only tested here on chDB's. Stores made before keep the view they have.
  const cascade = f.embedded && f.dedupToken && !o.cluster && !staged;
  const out: string[] = [];
  for (const k of ROLLUPS) {
    const table = o.table + k.suffix;
    const local = localTable(table, o.cluster);
    const engine = o.cluster ? `ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${o.database}/${local}', '{replica}')` : 'AggregatingMergeTree';
    const ttl = m && r[k.ttl] > 0 ? ` TTL t + INTERVAL ${ttlDays(r[k.ttl])} DAY` : '';
    // Deduplicated like the points table where the server has insert tokens or the view hangs off the staging table.
    const settings = f.dedupToken || staged ? tableSettings(f, o) : [];
    out.push(
      `CREATE TABLE IF NOT EXISTS ${db}.${quoteIdent(local)}${on} (${cols}) ENGINE = ${engine} PARTITION BY toYYYYMM(t) ORDER BY (device, tag, t)${ttl}` +
        (settings.length ? ` SETTINGS ${settings.join(', ')}` : ''),
    );
    if (o.cluster)
      out.push(
        `CREATE TABLE IF NOT EXISTS ${db}.${quoteIdent(table)}${on} (${cols}) ENGINE = Distributed(${quoteIdent(o.cluster)}, ${db}, ${quoteIdent(local)}, cityHash64(device))`,
      );
    const view = `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${quoteIdent(local + '_mv')}${on} TO ${db}.${quoteIdent(local)} AS `;
    if (cascade && k !== ROLLUPS[0])
      out.push(
        view +
          `SELECT device, tag, ${k.bucket}(t) AS t, minMergeState(min_value) AS min_value, maxMergeState(max_value) AS max_value, ` +
          `avgMergeState(avg_value) AS avg_value, argMaxMergeState(last_value) AS last_value, countMergeState(n) AS n ` +
          `FROM ${db}.${quoteIdent(localTable(o.table + ROLLUPS[0].suffix, o.cluster))} GROUP BY device, tag, t`,
      );
    else
      out.push(
        view +
          `SELECT device, tag, ${k.bucket}(${tsTime}) AS t, minState(value) AS min_value, maxState(value) AS max_value, avgState(value) AS avg_value, ` +
          `argMaxState(value, ts) AS last_value, countState() AS n FROM ${source} WHERE quality = 0 AND isFinite(value) GROUP BY device, tag, t`,
      );
  }
  return out;
}

/** Adds gateway_id to a points table made before the column existed (and to its Distributed table). */
export function addGatewayColumnDdl(f: ServerFeatures, o: PointsDdlOptions): string[] {
  const db = quoteIdent(o.database);
  const on = o.cluster ? ` ON CLUSTER ${quoteIdent(o.cluster)}` : '';
  const tables = o.cluster ? [localTable(o.table, o.cluster), o.table] : [o.table];
  return tables.map((t) => `ALTER TABLE ${db}.${quoteIdent(t)}${on} ADD COLUMN gateway_id ${gatewayColumnType(f)} DEFAULT ''`);
}

/** The column structure of the RowBinary the workers write, for file() inserts. */
export function pointsStructure(f: ServerFeatures, gateway: boolean): string {
  const base = modern(f)
    ? "ts DateTime64(3, 'UTC'), device String, tag String, value Float64, text String, quality UInt32, source String"
    : 'ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String';
  return gateway ? `${base}, gateway_id String` : base;
}
