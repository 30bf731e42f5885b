/**
 * Exactly-once over HTTP for a modern store that deduplicates by token. The
 * store is chDB behind test/helpers/chdb-front.mjs (a test-only HTTP front;
 * its header says what it does not cover). A lost cursor makes the gateway
 * send every chunk again with the same tokens; the store must keep one copy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { ROOT, TestGateway } from '../helpers/gateway.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { tempDir } from '../helpers/journal.js';

describe('exactly once over HTTP (chDB behind a test HTTP front)', () => {
  let front: ChildProcess | undefined;
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
    front?.kill('SIGTERM');
  });

  it('a replay of every chunk with the same tokens leaves one copy of each row', async () => {
    const port = await freePort();
    front = spawn(process.execPath, [join(ROOT, 'test/helpers/chdb-front.mjs'), join(tempDir('fg-front-'), 'store'), String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitFor('the chDB front', async () => (await fetch(`http://127.0.0.1:${port}/ping`)).ok);
    const url = `http://127.0.0.1:${port}`;
    // One segment holds everything (64 MiB default), so nothing is deleted behind the cursor and all of it can replay.
    g = await TestGateway.create({ clickhouse: { url, database: 'fieldgate' } });
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'eo', qos: 1, inflight: 200 });
    await pub.connect();
    for (let i = 0; i < 5000; i++) {
      await pub.room();
      pub.publish(`plant/eo${i % 3}/v`, String(i));
    }
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    pub.close();
    await g.drained();
    expect(await g.query('SELECT count(), uniqExact(value) FROM fieldgate.points')).toBe('5000\t5000');
    const before = JSON.parse(await (await fetch(url, { method: 'POST', body: "SELECT 'front-stats'" })).text()) as { inserts: number; tokens: string[] };
    expect(before.tokens.length).toBe(before.inserts);
    // gateway id : journal identity : sink : chunk : table
    expect(before.tokens.every((t) => /^[A-Za-z0-9_.-]+:[0-9a-f]{16}:clickhouse:\d+:points$/.test(t))).toBe(true);
    expect(await g.stop()).toBe(0);

    // As if the gateway had died after the inserts and before its cursor was written.
    rmSync(join(g.stateDir, 'cursors'), { recursive: true });
    await g.start();
    await g.drained();
    const resent = await g.metric('fieldgate_sink_rows_inserted_total{sink="clickhouse",table="points"}');
    const after = JSON.parse(await (await fetch(url, { method: 'POST', body: "SELECT 'front-stats'" })).text()) as { inserts: number; tokens: string[] };
    // All chunks were sent again with the same tokens…
    expect(resent).toBe(5000);
    expect(after.tokens.slice(before.tokens.length).sort()).toEqual([...before.tokens].sort());
    // …and the store kept one copy.
    expect(await g.query('SELECT count(), uniqExact(value) FROM fieldgate.points')).toBe('5000\t5000');
  });

  it("two gateways into one store that deduplicates by token keep each other's rows (same chunk ids, different tokens)", async () => {
    const port = await freePort();
    const f = spawn(process.execPath, [join(ROOT, 'test/helpers/chdb-front.mjs'), join(tempDir('fg-front2-'), 'store'), String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor('the chDB front', async () => (await fetch(`${url}/ping`)).ok);
      // Same host, default gateway_id for both: the journal identities keep their tokens apart.
      const gws = [
        await TestGateway.create({ clickhouse: { url, database: 'fieldgate' } }),
        await TestGateway.create({ clickhouse: { url, database: 'fieldgate' } }),
      ];
      for (const gw of gws) await gw.start();
      try {
        await Promise.all(
          gws.map(async (gw, k) => {
            const pub = new RawPublisher({ port: gw.mqttPort, clientId: `two-${k}`, qos: 1, inflight: 100 });
            await pub.connect();
            for (let i = 0; i < 1000; i++) {
              await pub.room();
              pub.publish(`plant/gw${k}/v`, String(i));
            }
            while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
            pub.close();
          }),
        );
        for (const gw of gws) await gw.drained();
        expect(await gws[0].query("SELECT device, count() FROM fieldgate.points WHERE device IN ('gw0', 'gw1') GROUP BY device ORDER BY device")).toBe(
          'gw0\t1000\ngw1\t1000',
        );
        const stats = JSON.parse(await (await fetch(url, { method: 'POST', body: "SELECT 'front-stats'" })).text()) as { tokens: string[] };
        const chunkIds = (prefix: string) => new Set(stats.tokens.filter((t) => t.includes(prefix)).map((t) => t.split(':')[3]));
        const ids = stats.tokens.map((t) => t.split(':')[1]);
        expect(new Set(ids).size).toBe(2); // two journal identities
        const [a, b] = [...new Set(ids)];
        expect([...chunkIds(a)].some((id) => chunkIds(b).has(id))).toBe(true); // the same chunk ids, stored twice over
      } finally {
        for (const gw of gws) await gw.stop();
      }
    } finally {
      f.kill('SIGTERM');
    }
  });
});
