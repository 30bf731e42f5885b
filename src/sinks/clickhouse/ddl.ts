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
}

export function pointsDdl(f: ServerFeatures, o: PointsDdlOptions): string[] {
  const db = quoteIdent(o.database);
  const t = `${db}.${quoteIdent(o.table)}`;
  if (!modern(f)) {
    return [
      `CREATE DATABASE IF NOT EXISTS ${db}`,
      `CREATE TABLE IF NOT EXISTS ${t} (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String) ` +
        `ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000))) ORDER BY (device, tag, ts)`,
    ];
  }
  const settings: string[] = [];
  if (f.dedupWindow && o.dedupWindow > 0) settings.push(`non_replicated_deduplication_window = ${o.dedupWindow}`);
  // Embedded: a power cut must not lose a part the cursor has already passed.
  if (f.embedded) settings.push('fsync_after_insert = 1', 'fsync_part_directory = 1');
  const ttl = o.ttlMs && o.ttlMs > 0 ? ` TTL toDateTime(ts) + INTERVAL ${Math.max(1, Math.round(o.ttlMs / 86_400_000))} DAY` : '';
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${t} (` +
      `ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)), ` +
      `device LowCardinality(String), ` +
      `tag LowCardinality(String), ` +
      `value Float64 CODEC(Gorilla, ZSTD(1)), ` +
      `text String CODEC(ZSTD(1)), ` +
      `quality UInt32 CODEC(T64, ZSTD(1)), ` +
      `source LowCardinality(String)` +
      `) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (device, tag, ts)${ttl}` +
      (settings.length ? ` SETTINGS ${settings.join(', ')}` : ''),
  ];
}

/** The column structure of the RowBinary the workers write, for file() inserts. */
export function pointsStructure(f: ServerFeatures): string {
  return modern(f)
    ? "ts DateTime64(3, 'UTC'), device String, tag String, value Float64, text String, quality UInt32, source String"
    : 'ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String';
}
