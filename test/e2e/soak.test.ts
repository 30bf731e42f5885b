/**
 * Soak with faults: QoS 1 ingest into the gateway (chDB, which deduplicates by token) while faults
 * are injected at random, one at a time: journal writes that fail, come up short or stall; cursor
 * writes that fail; store requests that drop; encodes that fail once; SIGSTOP/SIGCONT; SIGKILL and
 * restart. Afterwards every acknowledged value must be stored exactly once and no loop stalled.
 * SOAK_SECONDS sets the length (30 s in the suite; scripts/soak.sh runs 10 minutes).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { qos1Load, tally } from '../helpers/load.js';
import { tempDir } from '../helpers/journal.js';
import { sleep } from '../helpers/ports.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 30);

type Kind = 'journal_eio' | 'journal_short' | 'journal_stall' | 'cursor_eio' | 'store_reset' | 'encode_eio' | 'sigstop' | 'sigkill';
const KINDS: Kind[] = ['journal_eio', 'journal_short', 'journal_stall', 'cursor_eio', 'store_reset', 'encode_eio', 'sigstop', 'sigkill'];

describe(`soak: ${SECONDS} s of QoS 1 ingest with faults injected at random`, () => {
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
  });

  it('stores every acknowledged value exactly once and leaves no loop stalled', async () => {
    const faults = join(tempDir('fg-soak-'), 'faults.json');
    writeFileSync(faults, '{}');
    g = await TestGateway.create({ batchMaxDelay: '100ms', env: { FIELDGATE_FAULTS: faults }, clickhouseYaml: 'request_timeout: 5s' });
    await g.start();
    const gw = g;
    // ~5-10k msg/s: a busy plant, not a flood
    const load = qos1Load(() => gw.mqttPort, { topic: 'plant/soak/seq', clientPrefix: 'soak', pauseEvery: 50, pauseMs: 5 });
    const { acked } = load;

    const injected: Record<Kind, number> = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
    const recovery: number[] = [];
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await sleep(500 + Math.floor(Math.random() * 1500));
      const kind = KINDS[Math.floor(Math.random() * KINDS.length)];
      injected[kind]++;
      const hold = 500 + Math.floor(Math.random() * 1500);
      const plan = (p: object): void => writeFileSync(faults, JSON.stringify(p));
      switch (kind) {
        case 'journal_eio':
          plan({ journal_write: { action: 'eio' } });
          break;
        case 'journal_short':
          plan({ journal_write: { action: 'short', probability: 0.5 } });
          break;
        case 'journal_stall':
          plan({ journal_write: { action: 'stall', ms: 300, count: 3 } });
          break;
        case 'cursor_eio':
          plan({ cursor_write: { action: 'eio' } });
          break;
        case 'store_reset':
          plan({ sink_request: { action: 'reset', probability: 0.5 } });
          break;
        case 'encode_eio':
          plan({ encode: { action: 'eio', count: 1 } });
          break;
        case 'sigstop':
          gw.signal('SIGSTOP');
          break;
        case 'sigkill':
          break;
      }
      if (kind === 'sigkill') {
        await gw.kill();
        load.dropConnection();
        await gw.start();
      } else {
        await sleep(hold);
        if (kind === 'sigstop') gw.signal('SIGCONT');
        plan({});
      }
      // Recovery: the time until the gateway acknowledges again.
      const before = acked.size;
      const t0 = Date.now();
      while (acked.size === before && Date.now() - t0 < 30_000) await sleep(20);
      recovery.push(Date.now() - t0);
    }
    writeFileSync(faults, '{}');
    await sleep(1000);
    await load.stop();
    await gw.drained(120_000);
    const seq = load.published;

    const rows = (await gw.query("SELECT toUInt64(value) FROM fieldgate.points WHERE device = 'soak'")).split('\n').filter(Boolean).map(Number);
    const { counts, lost, duplicated } = tally(rows, acked);
    const ready = await gw.readyz();
    const report = {
      seconds: SECONDS,
      injected,
      published: seq,
      acknowledged: acked.size,
      stored: rows.length,
      lost: lost.length,
      duplicated: duplicated.length,
      recovery_ms_max: Math.max(0, ...recovery),
      recovery_ms_median: recovery.sort((a, b) => a - b)[Math.floor(recovery.length / 2)] ?? 0,
      stalled: ready.body.stalled,
    };
    console.log(`soak: ${JSON.stringify(report)}`);
    expect(acked.size).toBeGreaterThan(1000);
    expect(lost, `acknowledged but not stored (of ${acked.size})`).toEqual([]);
    expect(duplicated, 'stored more than once').toEqual([]);
    expect(ready.status).toBe(200);
    expect(ready.body.stalled).toEqual([]);
    for (const v of counts.keys()) expect(v).toBeLessThan(seq);
  });
});
