import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/ports.js';

const KILLS = 10;

describe('crash: SIGKILL at random moments under QoS 1 load', () => {
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
  });

  it('keeps every PUBACKed message, exactly once in chDB', async () => {
    g = await TestGateway.create({ batchMaxDelay: '100ms' });
    await g.start();
    const gw = g;
    const acked = new Set<number>();
    let seq = 0;
    let stop = false;
    let current: RawPublisher | undefined;

    const publisher = (async () => {
      while (!stop) {
        const pub = new RawPublisher({ port: gw.mqttPort, clientId: `crash-pub-${seq}`, qos: 1, inflight: 64, onAck: (tag) => acked.add(tag) });
        try {
          await pub.connect();
        } catch {
          await sleep(20);
          continue;
        }
        current = pub;
        while (!stop && pub.connected) {
          await pub.room();
          if (!pub.connected || stop) break;
          pub.publish('plant/crash/seq', String(seq), seq);
          seq++;
          if (seq % 200 === 0) await sleep(1);
        }
        if (stop && pub.connected) {
          // the last connection: wait for its acknowledgements
          const until = Date.now() + 10_000;
          while (pub.pending.size > 0 && pub.connected && Date.now() < until) await sleep(10);
          pub.close();
        }
      }
    })();

    const kills: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const wait = 200 + Math.floor(Math.random() * 1300);
      await sleep(wait);
      kills.push(wait);
      await gw.kill();
      current?.destroy();
      await gw.start();
    }
    await sleep(1000);
    stop = true;
    await publisher;
    await gw.drained();

    const rows = (await gw.query("SELECT toUInt64(value) FROM fieldgate.points WHERE device = 'crash'")).split('\n').filter(Boolean).map(Number);
    const counts = new Map<number, number>();
    for (const v of rows) counts.set(v, (counts.get(v) ?? 0) + 1);
    const missing = [...acked].filter((id) => !counts.has(id));
    const duplicated = [...counts].filter(([, c]) => c > 1);
    expect(acked.size).toBeGreaterThan(1000);
    expect(missing, `PUBACKed but not stored (of ${acked.size})`).toEqual([]);
    expect(duplicated, 'stored more than once').toEqual([]);
    // Nothing that was never published shows up.
    for (const v of counts.keys()) expect(v).toBeLessThan(seq);
    console.log(`crash test: ${KILLS} SIGKILLs after ${kills.join(', ')} ms; ${seq} published, ${acked.size} acknowledged, ${rows.length} stored`);
  });
});
