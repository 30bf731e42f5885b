import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/ports.js';

const RATE = 2000;
const HEAVY = 'SELECT count() FROM numbers(400000000) WHERE cityHash64(number) % 7 = 1';

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
    await sleep(2000);
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
      `query under load: ${queries} heavy queries (${Math.round(queryMs / queries)} ms each), ${latencies.length} PUBACKs, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    );
    expect(queryMs / queries).toBeGreaterThan(500); // the queries really were heavy
    expect(latencies.length).toBeGreaterThan(RATE * 6);
    expect(p99).toBeLessThan(100);
  });
});
