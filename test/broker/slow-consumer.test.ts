import { readFileSync, writeFileSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { rawConn } from '../helpers/mqtt-raw.js';
import { waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

/** A started gateway with these broker limits. */
async function gatewayWithLimits(limits: string): Promise<TestGateway> {
  const g = await TestGateway.create();
  writeFileSync(
    g.config,
    readFileSync(g.config, 'utf8').replace(/^broker: \{ listeners: (.*) \}$/m, (_m, l: string) => `broker: { listeners: ${l}, limits: { ${limits} } }`),
  );
  cleanups.push(() => g.stop());
  await g.start();
  return g;
}

describe('a stuck subscriber', () => {
  it('is dropped after limits.slow_consumer_timeout and does not stall delivery to the others', async () => {
    // The healthy subscriber reads in this test's process, which a loaded CI machine can stall for
    // half a second: 2 s tells it from the stuck one, and a bound on unsent bytes above the 25 MiB
    // sent keeps QoS 0 drops out of the picture, so the timeout is the one thing measured.
    const g = await gatewayWithLimits('slow_consumer_timeout: 2s, max_unsent: 64MiB');

    // Subscribes to everything, then stops reading its socket.
    const stuck = await rawConn(g.mqttPort, { clientId: 'stuck' }, cleanups);
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] });
    await waitFor('SUBACK', () => stuck.got.some((p) => p.cmd === 'suback'), 5000, 10);
    stuck.s.pause();

    const healthy = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { clientId: 'healthy', reconnectPeriod: 0 });
    cleanups.push(() => healthy.endAsync(true));
    let got = 0;
    healthy.on('message', () => got++);
    let closed = false;
    healthy.on('close', () => (closed = true));
    await healthy.subscribeAsync('bulk/#', { qos: 0 });

    const pub = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { clientId: 'bulk-pub', reconnectPeriod: 0 });
    cleanups.push(() => pub.endAsync(true));
    const blob = Buffer.alloc(64 * 1024, 1);
    const N = 400; // 25 MiB: far more than the stuck socket's buffers hold
    for (let i = 0; i < N; i++) await pub.publishAsync(`bulk/m${i % 4}/blob`, blob, { qos: 0 });

    await waitFor('every message at the healthy subscriber', () => got === N, 20_000, 50).catch(async (err: Error) => {
      const why = await g.metric('fieldgate_broker_disconnects_total{reason="slow_consumer"}');
      throw new Error(`${err.message}; got ${got} of ${N}; healthy ${closed ? 'disconnected' : 'connected'}; slow_consumer disconnects ${why}`);
    });
    await waitFor('the stuck subscriber dropped', async () => (await g.metric('fieldgate_broker_flood_drops_total{reason="slow_consumer"}')) >= 1, 10_000, 50);
    expect(await g.metric('fieldgate_broker_disconnects_total{reason="slow_consumer"}')).toBe(1);
    // Its socket sees the close once it reads again (a paused socket does not read the FIN).
    stuck.s.resume();
    await stuck.closed;
    expect(stuck.got.filter((p) => p.cmd === 'publish').length).toBeLessThan(N);
    expect(g.alive).toBe(true);
  });
});

describe('a subscriber that reads slower than QoS 0 messages arrive', () => {
  it('misses the QoS 0 messages past limits.max_unsent (counted), stays connected, and gets what comes once it reads again', async () => {
    const g = await gatewayWithLimits('max_unsent: 64KiB');
    const slow = await rawConn(g.mqttPort, { clientId: 'slow' }, cleanups);
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bulk/#', qos: 0 }] });
    await waitFor('SUBACK', () => slow.got.some((p) => p.cmd === 'suback'), 5000, 10);
    slow.s.pause();

    const pub = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { clientId: 'bulk-pub', reconnectPeriod: 0 });
    cleanups.push(() => pub.endAsync(true));
    const blob = Buffer.alloc(64 * 1024, 1);
    const N = 400; // 25 MiB for a subscriber that reads none of it: unbounded, all of it waited in the gateway's memory
    for (let i = 0; i < N; i++) await pub.publishAsync(`bulk/m${i % 4}/blob`, blob, { qos: 0 });
    const dropped = () => g.metric('fieldgate_broker_flood_drops_total{reason="unsent_limit"}');
    await waitFor('drops counted', async () => (await dropped()) > 0, 10_000, 50);

    slow.s.resume();
    // What it gets is what fit in the bound and the sockets' buffers; the rest was dropped, each one
    // counted (the gateway may still be delivering the last publishes when it starts to read again).
    const bulk = () => slow.got.filter((p) => p.cmd === 'publish').length;
    await waitFor('every message delivered or counted as dropped', async () => bulk() + (await dropped()) === N, 10_000, 20);
    await pub.publishAsync('bulk/last', 'after', { qos: 0 });
    await waitFor('the message sent once it read again', () => slow.got.some((p) => p.cmd === 'publish' && p.topic === 'bulk/last'), 10_000, 20);
    expect(bulk()).toBeLessThan(N / 4);
    expect(slow.isClosed()).toBe(false);
    expect(await g.metric('fieldgate_broker_flood_drops_total{reason="slow_consumer"}')).toBe(0);
  });
});
