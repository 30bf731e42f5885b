/**
 * The 2026 aedes advisories, each against the running gateway: the fix must
 * hold in the broker fieldgate ships (aedes 1.2.0 plus the gateway's guards).
 */
import mqttPacket from 'mqtt-packet';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { generate, publishPacket, rawConn } from '../helpers/mqtt-raw.js';
import { sleep, waitFor } from '../helpers/ports.js';

let g: TestGateway;
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  g = await TestGateway.create({ yaml: 'broker:\n  listeners: [ { bind: "127.0.0.1:PORT" } ]\n  limits: { max_inflight: 50, max_topic_levels: 32 }\n' });
  const text = (await import('node:fs')).readFileSync(g.config, 'utf8');
  (await import('node:fs')).writeFileSync(g.config, text.replace(/^broker: .*\n/m, '').replace('PORT', String(g.mqttPort)));
  await g.start();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await g.stop();
});

async function mqtt(clientId: string, clean = true): Promise<MqttClient> {
  const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { clientId, clean, reconnectPeriod: 0, protocolVersion: 4 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

const raw = (clientId: string, clean = true) => rawConn(g.mqttPort, { clientId, clean }, cleanups);
const publish = (topic: string, messageId: number, qos: 0 | 1 | 2, payload = 'x') => generate(publishPacket(topic, messageId, qos, payload));

describe('aedes advisories', () => {
  it('GHSA-xxqp-5qx8-gj5q: a very deep topic closes that connection, the broker stays up', async () => {
    const deep = Array.from({ length: 5000 }, (_, i) => `l${i}`).join('/');
    const c = await raw('deep');
    c.s.write(publish(deep, 1, 1));
    await c.closed;
    const sub = await raw('deep-sub');
    sub.s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${deep}/#`, qos: 0 }] } as never));
    await sub.closed;
    expect(g.alive).toBe(true);
    const ok = await mqtt('after-deep');
    await ok.publishAsync('plant/deep/ok', '1', { qos: 1 });
  });

  it('GHSA-52qw-whmv-87c5: __proto__ and constructor in topics and client ids neither crash nor pollute', async () => {
    const sub = await mqtt('__proto__');
    const got: string[] = [];
    sub.on('message', (t) => got.push(t));
    await sub.subscribeAsync(['__proto__/#', 'constructor/prototype/+', '+/__proto__'], { qos: 1 });
    const pub = await mqtt('constructor');
    for (const t of ['__proto__/polluted', 'constructor/prototype/polluted', 'x/__proto__']) await pub.publishAsync(t, '{"polluted":true}', { qos: 1 });
    await waitFor('the three messages', () => got.length === 3, 5000, 20);
    await sub.unsubscribeAsync('__proto__/#');
    await pub.publishAsync('__proto__/again', '1', { qos: 1 });
    await sleep(200);
    expect(got).not.toContain('__proto__/again');
    expect(g.alive).toBe(true);
  });

  it('GHSA-p8r9-qf8w-p73r: a QoS 2 message is not dropped when a clean reconnect reuses a message id', async () => {
    const sub = await mqtt('p8r9-sub');
    const got: string[] = [];
    sub.on('message', (_t, m) => got.push(m.toString()));
    await sub.subscribeAsync('plant/p8r9/#', { qos: 2 });
    // First session: PUBLISH id 7, PUBREC arrives, the client vanishes before PUBREL.
    const a = await raw('p8r9', false);
    a.s.write(publish('plant/p8r9/v', 7, 2, 'first'));
    await waitFor('PUBREC', () => a.got.some((p) => p.cmd === 'pubrec'), 5000, 10);
    a.s.destroy();
    await sleep(100);
    // A clean session for the same client id starts from nothing [MQTT-3.1.2-6]: id 7 is a new message.
    const b = await raw('p8r9', true);
    b.s.write(publish('plant/p8r9/v', 7, 2, 'second'));
    await waitFor('PUBREC', () => b.got.some((p) => p.cmd === 'pubrec'), 5000, 10);
    b.s.write(mqttPacket.generate({ cmd: 'pubrel', messageId: 7 } as never));
    await waitFor('the second message delivered', () => got.includes('second'), 5000, 20);
    await sleep(200);
    // aedes forwards a QoS 2 message on PUBLISH (the specification's method A), so "first" arrived
    // before its sender vanished; what matters is that "second" arrives, once.
    expect(got.filter((m) => m === 'second')).toHaveLength(1);
  });

  it('GHSA-5jvp-3p2v-5qgf: QoS 2 publishes without PUBREL, pipelined in one write, are bounded per client', async () => {
    const before = Number(await g.metric('fieldgate_broker_disconnects_total{reason="error"}')) || 0;
    const c = await raw('flood2');
    c.s.write(Buffer.concat(Array.from({ length: 5000 }, (_, i) => publish('plant/q2/v', i + 1, 2))));
    await c.closed;
    // The connection closed after limits.max_inflight (50) PUBRECs, not after 5000.
    expect(c.got.filter((p) => p.cmd === 'pubrec').length).toBeLessThanOrEqual(50);
    expect(await g.metric('fieldgate_broker_disconnects_total{reason="error"}')).toBeGreaterThan(before);
    expect(g.alive).toBe(true);
  });
});
