import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/ports.js';

const RATE = 2000;
const heavy = (rows: number) => `SELECT count() FROM numbers(${rows}) WHERE cityHash64(number) % 7 = 1`;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

describe('queries through the gateway do not starve ingest', () => {
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
  });

  it('keeps PUBACK p99 under 100 ms while heavy queries run', async () => {
    g = await TestGateway.create();
    await g.start();
    const gw = g;
    const latencies: number[] = [];
    let measuring = false;
    const pub = new RawPublisher({ port: gw.mqttPort, clientId: 'q-load', qos: 1, inflight: 1000, onAck: (_t, ms) => measuring && latencies.push(ms) });
    await pub.connect();
    let stop = false;
    let seq = 0;
    const started = Date.now();
    const load = (async () => {
      while (!stop) {
        const due = Math.floor(((Date.now() - started) * RATE) / 1000);
        while (seq < due) pub.publish(`plant/q/v${seq % 10}`, String(seq), seq++);
        await sleep(5);
      }
    })();
    // Size the heavy query to this machine (at least 800 ms each): a fixed 400M rows took 485 ms on a fast CI machine,
    // under the 500 ms this test asserts, and the test means queries that hold the store much longer than an insert.
    let rows = 100_000_000;
    for (;;) {
      const t0 = Date.now();
      await gw.query(heavy(rows));
      if (Date.now() - t0 >= 800 || rows >= 6_400_000_000) break;
      rows *= 2;
    }
    const HEAVY = heavy(rows);
    await sleep(Math.max(0, 2000 - (Date.now() - started)));
    measuring = true;
    const q0 = Date.now();
    let queries = 0;
    let queryMs = 0;
    while (Date.now() - q0 < 8000) {
      const t = Date.now();
      const r = await gw.query(HEAVY);
      expect(Number(r)).toBeGreaterThan(0);
      queryMs += Date.now() - t;
      queries++;
    }
    measuring = false;
    stop = true;
    await load;
    pub.close();
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `query under load: ${queries} heavy queries of ${(rows / 1e6).toFixed(0)}M rows (${Math.round(queryMs / queries)} ms each), ${latencies.length} PUBACKs, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    );
    expect(queryMs / queries).toBeGreaterThan(500); // the queries really were heavy
    expect(latencies.length).toBeGreaterThan(RATE * 6);
    expect(p99).toBeLessThan(100);
  });
});
