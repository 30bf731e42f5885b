import { describe, expect, it } from 'vitest';
import { addGatewayColumnDdl, parseVersion, pointsDdl, pointsStructure, type ServerFeatures } from '../../../src/sinks/clickhouse/ddl.js';

const old: ServerFeatures = { version: '18.16.1', ...parseVersion('18.16.1'), dedupToken: false, dedupWindow: false, embedded: false };
const chdb: ServerFeatures = { version: '26.7.2.1', ...parseVersion('26.7.2.1'), dedupToken: true, dedupWindow: true, embedded: true };
const server: ServerFeatures = { ...chdb, version: '24.3.1', ...parseVersion('24.3.1'), embedded: false };

describe('version-adaptive DDL', () => {
  it('writes Int64 milliseconds and Strings on servers before 20.x, with no dedup setting', () => {
    expect(pointsDdl(old, { database: 'fieldgate', table: 'points', dedupWindow: 1000, ttlMs: 90 * 86_400_000 })).toEqual([
      'CREATE DATABASE IF NOT EXISTS `fieldgate`',
      'CREATE TABLE IF NOT EXISTS `fieldgate`.`points` (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String) ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000))) ORDER BY (device, tag, ts)',
    ]);
    expect(pointsStructure(old, false)).toBe('ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String');
    expect(pointsStructure(old, true)).toBe(
      'ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String',
    );
  });

  it('uses DateTime64, LowCardinality, codecs, TTL and the dedup window on current servers; fsync settings when embedded', () => {
    const [, table] = pointsDdl(chdb, { database: 'fieldgate', table: 'points', dedupWindow: 1000, ttlMs: 90 * 86_400_000 });
    expect(table).toBe(
      "CREATE TABLE IF NOT EXISTS `fieldgate`.`points` (ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)), device LowCardinality(String), tag LowCardinality(String), value Float64 CODEC(Gorilla, ZSTD(1)), text String CODEC(ZSTD(1)), quality UInt32 CODEC(T64, ZSTD(1)), source LowCardinality(String), gateway_id LowCardinality(String)) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (device, tag, ts) TTL toDateTime(ts) + INTERVAL 90 DAY SETTINGS non_replicated_deduplication_window = 1000, fsync_after_insert = 1, fsync_part_directory = 1",
    );
    const [, remote] = pointsDdl(server, { database: 'fieldgate', table: 'points', dedupWindow: 1000 });
    expect(remote).toMatch(/ORDER BY \(device, tag, ts\) SETTINGS non_replicated_deduplication_window = 1000$/);
  });

  it('on a cluster: ON CLUSTER, a ReplicatedMergeTree with the shard and replica macros and its dedup window, a Distributed table sharded by device', () => {
    const ddl = pointsDdl(old, { database: 'fieldgate', table: 'points', dedupWindow: 1000, ttlMs: 90 * 86_400_000, cluster: 'plant' });
    expect(ddl).toEqual([
      'CREATE DATABASE IF NOT EXISTS `fieldgate` ON CLUSTER `plant`',
      "CREATE TABLE IF NOT EXISTS `fieldgate`.`points_local` ON CLUSTER `plant` (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/fieldgate/points_local', '{replica}') PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000))) ORDER BY (device, tag, ts) SETTINGS replicated_deduplication_window = 1000",
      'CREATE TABLE IF NOT EXISTS `fieldgate`.`points` ON CLUSTER `plant` (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String) ENGINE = Distributed(`plant`, `fieldgate`, `points_local`, cityHash64(device))',
    ]);
    const modern = pointsDdl(server, { database: 'fieldgate', table: 'points', dedupWindow: 1000, ttlMs: 86_400_000, cluster: 'plant' });
    expect(modern[1]).toMatch(
      /ENGINE = ReplicatedMergeTree\('\/clickhouse\/tables\/\{shard\}\/fieldgate\/points_local', '\{replica\}'\) PARTITION BY toYYYYMM\(ts\) ORDER BY \(device, tag, ts\) TTL toDateTime\(ts\) \+ INTERVAL 1 DAY SETTINGS replicated_deduplication_window = 1000$/,
    );
    expect(addGatewayColumnDdl(old, { database: 'fieldgate', table: 'points', dedupWindow: 0, cluster: 'plant' })).toEqual([
      "ALTER TABLE `fieldgate`.`points_local` ON CLUSTER `plant` ADD COLUMN gateway_id String DEFAULT ''",
      "ALTER TABLE `fieldgate`.`points` ON CLUSTER `plant` ADD COLUMN gateway_id String DEFAULT ''",
    ]);
  });

  it('rollups: an AggregatingMergeTree per minute and hour with its TTL, each filled by a view of the good numeric values', () => {
    const ddl = pointsDdl(chdb, { database: 'fg', table: 'points', dedupWindow: 100, rollups: { minuteMs: 365 * 86_400_000, hourMs: 0 } });
    expect(ddl.slice(2)).toEqual([
      "CREATE TABLE IF NOT EXISTS `fg`.`points_1m` (device LowCardinality(String), tag LowCardinality(String), t DateTime('UTC'), min_value AggregateFunction(min, Float64), max_value AggregateFunction(max, Float64), avg_value AggregateFunction(avg, Float64), last_value AggregateFunction(argMax, Float64, DateTime64(3, 'UTC')), n AggregateFunction(count)) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(t) ORDER BY (device, tag, t) TTL t + INTERVAL 365 DAY SETTINGS non_replicated_deduplication_window = 100, fsync_after_insert = 1, fsync_part_directory = 1",
      'CREATE MATERIALIZED VIEW IF NOT EXISTS `fg`.`points_1m_mv` TO `fg`.`points_1m` AS SELECT device, tag, toStartOfMinute(toDateTime(ts)) AS t, minState(value) AS min_value, maxState(value) AS max_value, avgState(value) AS avg_value, argMaxState(value, ts) AS last_value, countState() AS n FROM `fg`.`points` WHERE quality = 0 AND isFinite(value) GROUP BY device, tag, t',
      "CREATE TABLE IF NOT EXISTS `fg`.`points_1h` (device LowCardinality(String), tag LowCardinality(String), t DateTime('UTC'), min_value AggregateFunction(min, Float64), max_value AggregateFunction(max, Float64), avg_value AggregateFunction(avg, Float64), last_value AggregateFunction(argMax, Float64, DateTime64(3, 'UTC')), n AggregateFunction(count)) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(t) ORDER BY (device, tag, t) SETTINGS non_replicated_deduplication_window = 100, fsync_after_insert = 1, fsync_part_directory = 1",
      // Embedded: the hourly view reads the minute view's blocks (merged states).
      'CREATE MATERIALIZED VIEW IF NOT EXISTS `fg`.`points_1h_mv` TO `fg`.`points_1h` AS SELECT device, tag, toStartOfHour(t) AS t, minMergeState(min_value) AS min_value, maxMergeState(max_value) AS max_value, avgMergeState(avg_value) AS avg_value, argMaxMergeState(last_value) AS last_value, countMergeState(n) AS n FROM `fg`.`points_1m` GROUP BY device, tag, t',
    ]);
    // A server keeps both views on the rows.
    const onServer = pointsDdl(server, { database: 'fg', table: 'points', dedupWindow: 100, rollups: { minuteMs: 1, hourMs: 1 } });
    expect(onServer.find((q) => q.includes('`points_1h_mv`'))).toContain('FROM `fg`.`points` WHERE quality = 0');
    // 18.16 on a cluster: no insert tokens, and a replica skips the views of a block it drops as a repeat, so the
    // rows go into a Null staging table whose views fill the points table and each rollup (each dedups its own block).
    const cl = pointsDdl(old, { database: 'fg', table: 'points', dedupWindow: 100, cluster: 'plant', rollups: { minuteMs: 1, hourMs: 1 } });
    expect(cl.slice(3, 6)).toEqual([
      'CREATE TABLE IF NOT EXISTS `fg`.`points_in_local` ON CLUSTER `plant` (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String) ENGINE = Null',
      'CREATE TABLE IF NOT EXISTS `fg`.`points_in` ON CLUSTER `plant` (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String, gateway_id String) ENGINE = Distributed(`plant`, `fg`, `points_in_local`, cityHash64(device))',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS `fg`.`points_local_mv` ON CLUSTER `plant` TO `fg`.`points_local` AS SELECT ts, device, tag, value, text, quality, source, gateway_id FROM `fg`.`points_in_local`',
    ]);
    expect(cl[6]).toMatch(
      /^CREATE TABLE IF NOT EXISTS `fg`.`points_1m_local` ON CLUSTER `plant` \(device String, tag String, t DateTime, .*argMax, Float64, Int64\).*\) ENGINE = ReplicatedAggregatingMergeTree\('\/clickhouse\/tables\/\{shard\}\/fg\/points_1m_local', '\{replica\}'\) PARTITION BY toYYYYMM\(t\) ORDER BY \(device, tag, t\) SETTINGS replicated_deduplication_window = 100$/,
    );
    expect(cl[7]).toMatch(/ENGINE = Distributed\(`plant`, `fg`, `points_1m_local`, cityHash64\(device\)\)$/);
    expect(cl[8]).toMatch(
      /^CREATE MATERIALIZED VIEW IF NOT EXISTS `fg`.`points_1m_local_mv` ON CLUSTER `plant` TO `fg`.`points_1m_local` AS SELECT device, tag, toStartOfMinute\(toDateTime\(intDiv\(ts, 1000\)\)\) AS t, .* FROM `fg`.`points_in_local` WHERE/,
    );
    expect(cl).toHaveLength(12);
    // Without rollups, or with insert tokens, rows go straight into the points table.
    expect(pointsDdl(old, { database: 'fg', table: 'points', dedupWindow: 100, cluster: 'plant' }).join('\n')).not.toMatch(/points_in/);
    expect(
      pointsDdl(server, { database: 'fg', table: 'points', dedupWindow: 100, cluster: 'plant', rollups: { minuteMs: 1, hourMs: 1 } }).join('\n'),
    ).not.toMatch(/points_in/);
    // A staging table made earlier stays in use on a server that has insert tokens now.
    expect(
      pointsDdl(server, { database: 'fg', table: 'points', dedupWindow: 100, cluster: 'plant', rollups: { minuteMs: 1, hourMs: 1 }, staged: true }).join('\n'),
    ).toMatch(/FROM `fg`.`points_in_local` WHERE/);
  });

  it('quotes identifiers', () => {
    expect(pointsDdl(old, { database: 'a`b', table: 'p', dedupWindow: 0 })[0]).toBe('CREATE DATABASE IF NOT EXISTS `a\\`b`');
  });
});
