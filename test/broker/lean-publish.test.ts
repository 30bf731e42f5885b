/**
 * The lean publish path (src/broker/lean-publish.ts) against the real gateway: a topic nobody
 * subscribed to is journaled without aedes's publish path, and the moment someone subscribes
 * (online, or a persistent session that went offline) the topic is delivered again; PUBACKs keep
 * the order of the PUBLISHes across both paths; everything acknowledged is stored once.
 */
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { gatewaySuite } from '../helpers/suite.js';
import { generate, publishPacket, rawConn } from '../helpers/mqtt-raw.js';
import { sleep, waitFor } from '../helpers/ports.js';

const suite = gatewaySuite();
const { cleanups, client } = suite;

const lean = () => suite.g.metric('fieldgate_broker_lean_publishes_total');

async function publishAll(c: MqttClient, topic: string, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) await c.publishAsync(topic, String(i), { qos: 1 });
}

describe('the lean publish path', () => {
  it('takes a topic nobody subscribed to, and gives it back to aedes as soon as someone subscribes', async () => {
    const pub = await client({ clientId: 'lean-pub' });
    await publishAll(pub, 'plant/lean1/v', 0, 20);
    await sleep(100); // the first publish asked both matchers; their answer is in
    const before = await lean();
    await publishAll(pub, 'plant/lean1/v', 20, 100);
    expect((await lean()) - before).toBeGreaterThanOrEqual(100);

    const sub = await client({ clientId: 'lean-sub' });
    const got: number[] = [];
    sub.on('message', (_t, p) => got.push(Number(p.toString())));
    await sub.subscribeAsync('plant/lean1/#', { qos: 1 });
    await publishAll(pub, 'plant/lean1/v', 120, 50);
    await waitFor('50 delivered', () => got.length >= 50, 10_000, 10);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => 120 + i));

    await sub.unsubscribeAsync('plant/lean1/#');
    await sleep(100);
    await publishAll(pub, 'plant/lean1/v', 170, 10);
    await sleep(100);
    const leanAgain = await lean();
    await publishAll(pub, 'plant/lean1/v', 180, 20);
    expect((await lean()) - leanAgain).toBeGreaterThanOrEqual(20);
    expect(got).toHaveLength(50);

    await waitFor('200 stored', async () => (await suite.g.query("SELECT count() FROM fieldgate.points WHERE device = 'lean1'")) === '200', 30_000, 100);
    expect(await suite.g.query("SELECT count(DISTINCT value) FROM fieldgate.points WHERE device = 'lean1'")).toBe('200');
  });

  it('queues for a persistent session that subscribed and went offline', async () => {
    const pub = await client({ clientId: 'lean-pub2' });
    await publishAll(pub, 'plant/lean2/v', 0, 20);
    await sleep(100);
    const off = await client({ clientId: 'lean-offline', clean: false });
    await off.subscribeAsync('plant/lean2/v', { qos: 1 });
    await off.endAsync();
    await sleep(100);
    await publishAll(pub, 'plant/lean2/v', 20, 100);
    const back = await client({ clientId: 'lean-offline', clean: false });
    const got: number[] = [];
    back.on('message', (_t, p) => got.push(Number(p.toString())));
    await waitFor('100 queued and delivered', () => got.length >= 100, 10_000, 10);
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 20 + i));
  });

  it('keeps PUBACKs in the order of the PUBLISHes across both paths, in one pipelined write', async () => {
    const watcher = await client({ clientId: 'lean-watch' });
    await watcher.subscribeAsync('plant/lean3/watched', { qos: 0 });
    const warm = await rawConn(suite.g.mqttPort, { clientId: 'lean-raw-warm' }, cleanups);
    warm.send(publishPacket('plant/lean3/quiet', 1, 1, '0'));
    warm.send(publishPacket('plant/lean3/watched', 2, 1, '0'));
    await waitFor('warm-up PUBACKs', () => warm.got.filter((p) => p.cmd === 'puback').length === 2, 5000, 10);
    await sleep(100);
    const c = await rawConn(suite.g.mqttPort, { clientId: 'lean-raw' }, cleanups);
    const n = 3000;
    const bytes: Buffer[] = [];
    // QoS 1 to a topic nobody reads, to a watched one, a new one each hundredth, QoS 0 between.
    for (let id = 1; id <= n; id++) {
      const topic = id % 3 === 0 ? 'plant/lean3/watched' : id % 100 === 0 ? `plant/lean3/new${id}` : 'plant/lean3/quiet';
      bytes.push(generate(publishPacket(topic, id, 1, String(id))));
      if (id % 7 === 0) bytes.push(generate(publishPacket('plant/lean3/q0', 0, 0, String(id))));
    }
    c.s.write(Buffer.concat(bytes));
    await waitFor(`${n} PUBACKs`, () => c.got.filter((p) => p.cmd === 'puback').length >= n, 30_000, 20);
    const ids = c.got.filter((p) => p.cmd === 'puback').map((p) => p.messageId as number);
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    await waitFor(
      'every value stored once',
      async () => (await suite.g.query("SELECT count() FROM fieldgate.points WHERE device = 'lean3' AND tag != 'q0'")) === String(n + 2),
      30_000,
      100,
    );
    expect(await suite.g.query("SELECT count() FROM fieldgate.points WHERE device = 'lean3' AND tag = 'q0'")).toBe(String(Math.floor(n / 7)));
  });
});
