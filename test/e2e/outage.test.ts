import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { ClickHouseServer } from '../helpers/clickhouse-server.js';
import { TestGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/ports.js';

const RATE = 6000; // msg/s over all publishers
const OUTAGE_MS = 32_000;

describe('outage: the ClickHouse server is down for 30 s under load', () => {
  let server: ClickHouseServer | undefined;
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
    await server?.stop();
  });

  it('buffers in the journal, shows it, and delivers every PUBACKed message afterwards', async () => {
    server = await ClickHouseServer.create();
    const database = 'fg_outage';
    g = await TestGateway.create({ clickhouse: { url: server.url, database } });
    await g.start();
    const gw = g;
    await gw.drained(); // connected, table created

    const acked = new Set<number>();
    let seq = 0;
    let stop = false;
    const pubs = await Promise.all(
      [0, 1].map(async (i) => {
        const p = new RawPublisher({ port: gw.mqttPort, clientId: `outage-${i}`, qos: 1, inflight: 500, onAck: (tag) => acked.add(tag) });
        await p.connect();
        return p;
      }),
    );
    const started = Date.now();
    const load = (async () => {
      // Paced in 10 ms ticks; each tick sends what the rate owes since the start.
      while (!stop) {
        const due = Math.floor(((Date.now() - started) * RATE) / 1000);
        while (seq < due) {
          const p = pubs[seq % 2];
          if (!p.connected) throw new Error('publisher lost its connection');
          p.publish(`plant/line${seq % 7}/count`, String(seq), seq);
          seq++;
        }
        await sleep(10);
      }
    })();

    await sleep(3000);
    await server.stop();
    const outageStart = Date.now();
    const seen = { buffering: false, sinkDown: false, lagGrew: false };
    while (Date.now() - outageStart < OUTAGE_MS) {
      const r = await gw.readyz();
      if (r.body.sinks[0]?.state === 'buffering') seen.buffering = true;
      if ((await gw.metric('fieldgate_sink_up{sink="clickhouse"}')) === 0) seen.sinkDown = true;
      if ((await gw.metric('fieldgate_sink_lag_bytes{sink="clickhouse"}')) > 1_000_000) seen.lagGrew = true;
      await sleep(1000);
    }
    const publishedDuringOutage = seq;
    await server.start();
    await sleep(3000);
    stop = true;
    await load;
    const until = Date.now() + 15_000;
    while (pubs.some((p) => p.pending.size > 0) && Date.now() < until) await sleep(20);
    for (const p of pubs) p.close();
    await gw.drained(120_000);

    const elapsed = (Date.now() - started) / 1000;
    expect(seen).toEqual({ buffering: true, sinkDown: true, lagGrew: true });
    expect(acked.size).toBe(seq);
    expect(seq / elapsed).toBeGreaterThan(5000 * 0.9);
    expect(publishedDuringOutage).toBeGreaterThan(5000 * 30);
    const got = await gw.query(`SELECT count(), uniqExact(value) FROM ${database}.points`);
    expect(got).toBe(`${acked.size}\t${acked.size}`);
    expect(await gw.metric('fieldgate_sink_lag_bytes{sink="clickhouse"}')).toBe(0);
    expect((await gw.readyz()).body.sinks[0]?.state).toBe('connected');
    console.log(
      `outage test: ${seq} messages in ${elapsed.toFixed(1)} s (${Math.round(seq / elapsed)} msg/s), server down ${OUTAGE_MS / 1000} s, all ${acked.size} PUBACKed rows stored once`,
    );
  });
});
