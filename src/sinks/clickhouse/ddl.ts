/**
 * Version-adaptive DDL. The row encoding never changes; only the column types
 * do: servers before 20.x have no DateTime64, codecs or TTL, and there ts is
 * Int64 milliseconds and the LowCardinality columns are String.
 */

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
  const settings: string[] = [];
  if (o.cluster) {
    if (o.dedupWindow > 0) settings.push(`replicated_deduplication_window = ${o.dedupWindow}`);
  } else if (f.dedupWindow && o.dedupWindow > 0) settings.push(`non_replicated_deduplication_window = ${o.dedupWindow}`);
  // Embedded: a power cut must not lose a part the cursor has already passed.
  if (f.embedded) settings.push('fsync_after_insert = 1', 'fsync_part_directory = 1');
  const partition = modern(f) ? 'toYYYYMM(ts)' : 'toYYYYMM(toDateTime(intDiv(ts, 1000)))';
  const ttl = modern(f) && o.ttlMs && o.ttlMs > 0 ? ` TTL toDateTime(ts) + INTERVAL ${Math.max(1, Math.round(o.ttlMs / 86_400_000))} DAY` : '';
  const out = [
    `CREATE DATABASE IF NOT EXISTS ${db}${on}`,
    `CREATE TABLE IF NOT EXISTS ${t}${on} (${columns(f)}) ENGINE = ${engine} PARTITION BY ${partition} ORDER BY (device, tag, ts)${ttl}` +
      (settings.length ? ` SETTINGS ${settings.join(', ')}` : ''),
  ];
  if (o.cluster) {
    out.push(
      `CREATE TABLE IF NOT EXISTS ${db}.${quoteIdent(o.table)}${on} (${columns(f)}) ENGINE = Distributed(${quoteIdent(o.cluster)}, ${db}, ${quoteIdent(local)}, cityHash64(device))`,
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
