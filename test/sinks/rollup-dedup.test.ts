/**
 * The rollups' views in the embedded store (chDB, in this test file's own process) with the sink's
 * DDL and insert settings: chunks inserted again with their tokens, in another order, are rolled
 * up once at both levels; the hourly view reads the minute view's blocks (merged states) and still
 * equals a direct aggregation of the raw rows.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChdbTransport } from '../../src/sinks/clickhouse/chdb-client.js';
import { insertSettings } from '../../src/sinks/clickhouse/sink.js';
import { pointsDdl, pointsStructure } from '../../src/sinks/clickhouse/ddl.js';
import { PointsEncoder } from '../../src/encode/points.js';

const dir = mkdtempSync(join(tmpdir(), 'fg-rollup-dedup-'));
const store = new ChdbTransport(dir);
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const f = { version: '26', major: 26, minor: 0, dedupToken: true, dedupWindow: true, embedded: true };
const rollup = (suffix: string) =>
  `SELECT device, tag, t, round(minMerge(min_value), 6), round(maxMerge(max_value), 6), round(avgMerge(avg_value), 6), ` +
  `round(argMaxMerge(last_value), 6), countMerge(n) FROM fg.points${suffix} GROUP BY device, tag, t ORDER BY device, tag, t`;
const raw = (bucket: string) =>
  `SELECT device, tag, ${bucket}(toDateTime(ts)) AS t, round(min(value), 6), round(max(value), 6), round(avg(value), 6), round(argMax(value, ts), 6), count() ` +
  `FROM fg.points WHERE quality = 0 AND isFinite(value) GROUP BY device, tag, t ORDER BY device, tag, t`;

describe('rollups in the embedded store', () => {
  it('roll a chunk inserted again with its token up once, at both levels, the hourly one from the minute blocks', async () => {
    const ddl = pointsDdl(f, { database: 'fg', table: 'points', dedupWindow: 1000, rollups: { minuteMs: 365 * 86_400_000, hourMs: 0 } });
    expect(ddl.find((q) => q.includes('`points_1h_mv`'))).toContain('FROM `fg`.`points_1m`');
    for (const q of ddl) await store.exec(q);
    const structure = pointsStructure(f, true);
    const enc = new PointsEncoder();
    enc.setGateway('gw');
    // Three chunks over three hours: two devices, five tags, bad qualities and text values among them.
    const t0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
    const chunks: Buffer[] = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 5000; i++) {
        const n = k * 5000 + i;
        const text = n % 13 === 0 ? 'text' : '';
        enc.row(t0 + n * 2_000 + (n % 7), `d${n % 2}`, `t${n % 5}`, text ? Number.NaN : Math.sin(n) * 100, text, n % 11 === 0 ? 2 : 0, 'mqtt', i);
      }
      chunks.push(enc.finish().data);
    }
    let seq = 0;
    const insert = async (k: number) => {
      const file = join(dir, `c${seq++}.rb`);
      writeFileSync(file, chunks[k]);
      await store.insert(
        'fg.points',
        { data: chunks[k], file, structure },
        insertSettings(f, { embedded_max_memory: 2_000_000_000, cluster: undefined, insert_via: 'distributed' }, `chunk-${k}`),
      );
    };
    for (const k of [0, 1, 0, 2, 1, 2, 0]) await insert(k);

    expect(Number(await store.exec('SELECT count() FROM fg.points'))).toBe(15_000);
    const good = Number(await store.exec('SELECT count() FROM fg.points WHERE quality = 0 AND isFinite(value)'));
    expect(good).toBeGreaterThan(10_000);
    expect(good).toBeLessThan(15_000);
    for (const [suffix, bucket, groups] of [
      ['_1m', 'toStartOfMinute', 150],
      ['_1h', 'toStartOfHour', 20],
    ] as const) {
      const got = await store.exec(rollup(suffix));
      expect(got.trim().split('\n').length).toBeGreaterThan(groups);
      expect(got).toBe(await store.exec(raw(bucket)));
      expect(Number(await store.exec(`SELECT countMerge(n) FROM fg.points${suffix}`))).toBe(good);
    }
  });
});
