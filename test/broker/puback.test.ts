import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { Broker } from '../../src/broker/broker.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { openJournal, tempDir } from '../helpers/journal.js';
import { freePort, sleep } from '../helpers/ports.js';

describe('PUBACK after the commit', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it('a QoS 1 PUBACK is sent only once the group commit holding the message is on disk', async () => {
    const dir = tempDir();
    // Commits at most every 1.5 s: the first message after a quiet spell commits at once, the next waits.
    const { journal, metrics } = openJournal(dir, { commit_interval: 1500 }, { max_delay: 60_000 });
    const port = await freePort();
    const broker = new Broker(
      parseConfig(`state_dir: ${dir}\nbroker: { listeners: [ { bind: "127.0.0.1:${port}" } ] }\n`, 'c.yaml').config!.broker,
      journal,
      metrics,
      createLogger('silent'),
    );
    await broker.start();
    stops.push(async () => {
      await broker.stop();
      await journal.close();
    });
    const segment = (): string => readFileSync(join(dir, 'journal', readdirSync(join(dir, 'journal'))[0]), 'latin1');
    const acks = new Map<number, number>();
    const pub = new RawPublisher({ port, clientId: 'pa', qos: 1, onAck: (tag) => acks.set(tag, Date.now()) });
    await pub.connect();
    stops.unshift(() => Promise.resolve(pub.destroy()));

    const t0 = Date.now();
    pub.publish('plant/pa/v', 'first-value', 1);
    await sleep(300);
    expect(acks.has(1)).toBe(true);
    expect(segment()).toContain('first-value');

    pub.publish('plant/pa/v', 'second-value', 2);
    await sleep(500);
    // Appended, but its commit is not due yet: no PUBACK, and not on disk.
    expect(acks.has(2)).toBe(false);
    expect(segment()).not.toContain('second-value');
    while (!acks.has(2)) await sleep(5);
    expect(segment()).toContain('second-value');
    expect(acks.get(2)! - t0).toBeGreaterThanOrEqual(1400);
    pub.close();
  });
});
