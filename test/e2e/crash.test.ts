import { afterAll, describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { qos1Load, tally } from '../helpers/load.js';
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
    const load = qos1Load(() => gw.mqttPort, { topic: 'plant/crash/seq', clientPrefix: 'crash-pub', pauseEvery: 200, pauseMs: 1 });

    const kills: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const wait = 200 + Math.floor(Math.random() * 1300);
      await sleep(wait);
      kills.push(wait);
      await gw.kill();
      load.dropConnection();
      await gw.start();
    }
    await sleep(1000);
    await load.stop();
    await gw.drained();
    const { acked } = load;
    const seq = load.published;

    const rows = (await gw.query("SELECT toUInt64(value) FROM fieldgate.points WHERE device = 'crash'")).split('\n').filter(Boolean).map(Number);
    const { counts, lost: missing, duplicated } = tally(rows, acked);
    expect(acked.size).toBeGreaterThan(1000);
    expect(missing, `PUBACKed but not stored (of ${acked.size})`).toEqual([]);
    expect(duplicated, 'stored more than once').toEqual([]);
    // Nothing that was never published shows up.
    for (const v of counts.keys()) expect(v).toBeLessThan(seq);
    console.log(`crash test: ${KILLS} SIGKILLs after ${kills.join(', ')} ms; ${seq} published, ${acked.size} acknowledged, ${rows.length} stored`);
  });
});
