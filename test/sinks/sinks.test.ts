/**
 * Several sinks on one journal: the embedded store keeps everything, a server sink with a select
 * keeps what it names (into a table made before gateway_id existed, which gets the column), and a
 * sink whose server never answers holds up neither of them.
 */
import { describe, expect, inject, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { serverSql } from '../helpers/clickhouse-server.js';
import { waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

const ch = serverSql;

describe('several sinks', () => {
  it('each keeps its own pace and selection; a dead one holds up no other; an older points table gets gateway_id', async () => {
    const db = `fg_sinks_${process.pid}`;
    await ch(`CREATE DATABASE IF NOT EXISTS ${db}`);
    // The points table as fieldgate made it before the gateway_id column.
    await ch(
      `CREATE TABLE ${db}.points (ts Int64, device String, tag String, value Float64, text String, quality UInt32, source String) ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000))) ORDER BY (device, tag, ts)`,
    );
    const url = inject('clickhouseUrl');
    const g = await TestGateway.create({
      yaml: 'gateway_id: edge-7',
      sinks: [
        '- { name: local, clickhouse: { } }',
        `- { name: central, clickhouse: { url: "${url}", database: ${db}, retry_max: 1s }, select: [ { device: "keep*" }, { device: "other", tag: "b" } ] }`,
        '- { name: nowhere, clickhouse: { url: "http://127.0.0.1:9", database: x, retry_initial: 100ms, retry_max: 500ms, request_timeout: 1s } }',
      ],
    });
    cleanups.push(() => g.stop());
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'sinks', qos: 1, inflight: 100 });
    await pub.connect();
    for (let i = 0; i < 3000; i++) {
      await pub.room();
      pub.publish(`plant/${['keep1', 'keep2', 'other'][i % 3]}/${i % 2 ? 'a' : 'b'}`, String(i));
    }
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    pub.close();

    await waitFor(
      'local and central caught up',
      async () => {
        const r = await g.readyz();
        const by = new Map(r.body.sinks.map((s) => [(s as { name?: string }).name, s]));
        // Bytes, not chunks: the last chunk may still be open (batch.max_delay) when every PUBACK is in.
        return by.get('local')?.lagBytes === 0 && by.get('central')?.lagBytes === 0 && by.get('central')?.state === 'connected';
      },
      60_000,
      100,
    );
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device IN ('keep1', 'keep2', 'other')")).toBe('3000');
    // keep1 and keep2 whole (2,000), and other's tag b: i % 3 == 2 and i even, 500 of the 1,000.
    expect(await ch(`SELECT device, count() FROM ${db}.points GROUP BY device ORDER BY device`)).toBe('keep1\t1000\nkeep2\t1000\nother\t500');
    expect(await ch(`SELECT DISTINCT tag FROM ${db}.points WHERE device = 'other'`)).toBe('b');
    expect(await ch(`SELECT DISTINCT gateway_id FROM ${db}.points`)).toBe('edge-7');
    expect(g.logs).toContain('added the gateway_id column');
    expect(await g.query('SELECT DISTINCT gateway_id FROM fieldgate.points')).toBe('edge-7');

    // The dead sink buffers: the others are done, it is not; each sink has its own metrics.
    const r = await g.readyz();
    const nowhere = r.body.sinks.find((s) => (s as { name?: string }).name === 'nowhere')!;
    expect(nowhere.state).toBe('buffering');
    expect(nowhere.lagChunks).toBeGreaterThan(0);
    expect(await g.metric('fieldgate_sink_up{sink="nowhere"}')).toBe(0);
    expect(await g.metric('fieldgate_sink_rows_inserted_total{sink="central",table="points"}')).toBe(2500);
    expect(await g.metric('fieldgate_sink_rows_inserted_total{sink="local",table="points"}')).toBe(3000);
    await ch(`DROP DATABASE ${db}`);
  });
});
