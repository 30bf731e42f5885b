/**
 * The 1-minute and 1-hour rollups, in the embedded store (chDB, ClickHouse 26) and in a ClickHouse
 * 18.16 server: filled by the materialized views as rows are inserted, equal to a direct
 * aggregation of the raw rows (good numeric values only), also after the gateway is SIGKILLed and
 * replays chunks the stores had already taken (a block the store drops as a duplicate is not rolled up).
 */
import { describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { localAndServer, serverSql } from '../helpers/clickhouse-server.js';
import { waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

const ch = serverSql;

/** min, max, avg, last, count per device, tag and bucket: from a rollup, and from the raw rows. */
function fromRollup(db: string, suffix: string): string {
  return (
    `SELECT device, tag, t, round(minMerge(min_value), 6), round(maxMerge(max_value), 6), round(avgMerge(avg_value), 6), ` +
    `round(argMaxMerge(last_value), 6), countMerge(n) FROM ${db}.points${suffix} GROUP BY device, tag, t ORDER BY device, tag, t`
  );
}
function fromRaw(db: string, bucket: string, tsTime: string): string {
  return (
    `SELECT device, tag, ${bucket}(${tsTime}) AS t, round(min(value), 6), round(max(value), 6), round(avg(value), 6), round(argMax(value, ts), 6), count() ` +
    `FROM ${db}.points WHERE quality = 0 AND isFinite(value) GROUP BY device, tag, t ORDER BY device, tag, t`
  );
}

describe('rollups', () => {
  it('equal a direct aggregation of the raw rows in chDB and ClickHouse 18.16, after a crash and replay too', async () => {
    const db = `fg_rollups_${process.pid}`;
    const g = await localAndServer(db, cleanups);

    // Values over the last three hours, a few per minute, with text values and bad qualities among them.
    const start = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
    let sent = 0;
    const publish = async (from: number, to: number): Promise<void> => {
      const pub = new RawPublisher({ port: g.mqttPort, clientId: `rollups-${from}`, qos: 1, inflight: 50 });
      await pub.connect();
      for (let i = from; i < to; i++) {
        const values = [];
        for (let k = 0; k < 20; k++) {
          const n = i * 20 + k;
          const item: Record<string, unknown> = { tag: `t${n % 3}`, ts: start + n * 7_000 + (n % 5), value: Math.sin(n) * 100 + (n % 7) };
          if (n % 11 === 0) item.quality = 'bad';
          if (n % 13 === 0) item.value = 'text';
          values.push(item);
        }
        await pub.room();
        pub.publish(`json/m${i % 4}`, JSON.stringify(values));
        sent++;
      }
      while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
      pub.close();
    };
    await publish(0, 40);
    // SIGKILL once both stores have some of it: chunks after the cursors are replayed at restart.
    await waitFor('rows in both stores', async () => Number(await ch(`SELECT count() FROM ${db}.points`).catch(() => '0')) > 0, 30_000, 50);
    await g.kill();
    await g.start();
    await publish(40, 80);
    await waitFor(
      'both sinks caught up',
      async () => {
        const r = await g.readyz();
        return r.body.sinks.every((s) => s.lagBytes === 0 && s.state === 'connected');
      },
      60_000,
      100,
    );
    expect(sent).toBe(80);

    const raw = Number(await g.query('SELECT count() FROM fieldgate.points'));
    expect(raw).toBe(1600);
    // 18.16 has no insert tokens for a MergeTree: a chunk replayed after the SIGKILL may be there twice (at least once).
    const serverRows = Number(await ch(`SELECT count() FROM ${db}.points`));
    expect(serverRows).toBeGreaterThanOrEqual(1600);
    for (const [suffix, bucket] of [
      ['_1m', 'toStartOfMinute'],
      ['_1h', 'toStartOfHour'],
    ]) {
      const local = await g.query(fromRollup('fieldgate', suffix));
      const localRaw = await g.query(fromRaw('fieldgate', bucket, 'toDateTime(ts)'));
      expect(local.split('\n').length).toBeGreaterThan(suffix === '_1m' ? 100 : 3);
      expect(local).toBe(localRaw);
      const server = await ch(fromRollup(db, suffix));
      expect(server).toBe(await ch(fromRaw(db, bucket, 'toDateTime(intDiv(ts, 1000))')));
      // The same numbers in both stores (the server's DateTime prints in its own time zone: compare the rest).
      const strip = (s: string) =>
        s
          .split('\n')
          .map((l) =>
            l
              .split('\t')
              .filter((_, i) => i !== 2)
              .join('\t'),
          )
          .join('\n');
      if (serverRows === 1600) expect(strip(server)).toBe(strip(local));
    }
    // Good numeric values only: bad qualities and text values are left out.
    const good = Number(await g.query('SELECT count() FROM fieldgate.points WHERE quality = 0 AND isFinite(value)'));
    expect(good).toBeLessThan(1600);
    expect(Number(await g.query('SELECT countMerge(n) FROM fieldgate.points_1h'))).toBe(good);
    await ch(`DROP DATABASE ${db}`);
  });
});
