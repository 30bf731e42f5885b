import { describe, expect, it } from 'vitest';
import { parseVersion, pointsDdl, pointsStructure, type ServerFeatures } from '../../../src/sinks/clickhouse/ddl.js';

const old: ServerFeatures = { version: '18.16.1', ...parseVersion('18.16.1'), dedupToken: false, dedupWindow: false, embedded: false };
const chdb: ServerFeatures = { version: '26.7.2.1', ...parseVersion('26.7.2.1'), dedupToken: true, dedupWindow: true, embedded: true };
const server: ServerFeatures = { ...chdb, version: '24.3.1', ...parseVersion('24.3.1'), embedded: false };

describe('version-adaptive DDL', () => {
  it('writes Int64 milliseconds and Strings on servers before 20.x, with no dedup setting', () => {
    expect(pointsDdl(old, { database: 'fieldgate', table: 'points', dedupWindow: 1000, ttlMs: 90 * 86_400_000 })).toEqual([
      'CREATE DATABASE IF NOT EXISTS `fieldgate`',
      'CREATE TABLE IF NOT EXISTS `fieldgate`.`points` (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String) ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000))) ORDER BY (device, tag, ts)',
    ]);
    expect(pointsStructure(old)).toBe('ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String');
  });

  it('uses DateTime64, LowCardinality, codecs, TTL and the dedup window on current servers; fsync settings when embedded', () => {
    const [, table] = pointsDdl(chdb, { database: 'fieldgate', table: 'points', dedupWindow: 1000, ttlMs: 90 * 86_400_000 });
    expect(table).toBe(
      "CREATE TABLE IF NOT EXISTS `fieldgate`.`points` (ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)), device LowCardinality(String), tag LowCardinality(String), value Float64 CODEC(Gorilla, ZSTD(1)), text String CODEC(ZSTD(1)), quality UInt32 CODEC(T64, ZSTD(1)), source LowCardinality(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (device, tag, ts) TTL toDateTime(ts) + INTERVAL 90 DAY SETTINGS non_replicated_deduplication_window = 1000, fsync_after_insert = 1, fsync_part_directory = 1",
    );
    const [, remote] = pointsDdl(server, { database: 'fieldgate', table: 'points', dedupWindow: 1000 });
    expect(remote).toMatch(/ORDER BY \(device, tag, ts\) SETTINGS non_replicated_deduplication_window = 1000$/);
  });

  it('quotes identifiers', () => {
    expect(pointsDdl(old, { database: 'a`b', table: 'p', dedupWindow: 0 })[0]).toBe('CREATE DATABASE IF NOT EXISTS `a\\`b`');
  });
});
