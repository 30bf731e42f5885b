/**
 * MQTT 3.1.1 conformance of the embedded broker, keyed by the normative
 * statement each test covers (OASIS MQTT 3.1.1, "[MQTT-x.y.z-n]"). Raw
 * packets where a client library would refuse to send them, mqtt.js elsewhere.
 * Statements covered in other files: [MQTT-3.1.3-8] and 0x80 SUBACKs in
 * security.test.ts, [MQTT-4.3.3-2] in advisories.test.ts, PUBACK only after
 * the commit in puback.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { gatewaySuite } from '../helpers/suite.js';
import { publishPacket, rawConn } from '../helpers/mqtt-raw.js';
import { sleep, waitFor } from '../helpers/ports.js';

const suite = gatewaySuite();
const { cleanups, client } = suite;

const connack = (c: { got: Array<Record<string, unknown>> }) =>
  c.got.find((p) => p.cmd === 'connack') as { returnCode: number; sessionPresent: boolean } | undefined;

describe('MQTT 3.1.1 conformance', () => {
  it('[MQTT-3.1.0-1] the first packet must be CONNECT: anything else closes the connection', async () => {
    const c = await rawConn(suite.g.mqttPort, undefined, cleanups);
    c.send(publishPacket('plant/x/y', 0, 0));
    await c.closed;
    expect(connack(c)).toBeUndefined();
  });

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol violation: the connection closes', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: 'twice' }, cleanups);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 60, clean: true, clientId: 'twice' });
    await c.closed;
  });

  it('[MQTT-3.1.2-3] the reserved flag of CONNECT must be 0', async () => {
    const c = await rawConn(suite.g.mqttPort, undefined, cleanups);
    c.s.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x03, 0, 30, 0, 0]));
    await c.closed;
    expect(connack(c)?.returnCode ?? -1).not.toBe(0);
  });

  it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] an empty client id with a clean session is accepted and given an id', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: '' }, cleanups);
    expect(connack(c)?.returnCode).toBe(0);
  });

  it('[MQTT-3.1.4-2] a second connection with the same client id closes the first', async () => {
    const a = await rawConn(suite.g.mqttPort, { clientId: 'dup-id' }, cleanups);
    const b = await rawConn(suite.g.mqttPort, { clientId: 'dup-id' }, cleanups);
    await a.closed;
    expect(connack(b)?.returnCode).toBe(0);
    expect(b.isClosed()).toBe(false);
  });

  it('[MQTT-3.2.2-1] [MQTT-3.2.2-2] session present is 0 for a clean session and 1 when one is resumed', async () => {
    const a = await rawConn(suite.g.mqttPort, { clientId: 'sp', clean: false }, cleanups);
    expect(connack(a)?.sessionPresent).toBe(false);
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sp/#', qos: 1 }] });
    await waitFor('SUBACK', () => a.got.some((p) => p.cmd === 'suback'), 5000, 10);
    a.send({ cmd: 'disconnect' });
    await a.closed;
    const b = await rawConn(suite.g.mqttPort, { clientId: 'sp', clean: false }, cleanups);
    expect(connack(b)?.sessionPresent).toBe(true);
    const c = await rawConn(suite.g.mqttPort, { clientId: 'sp', clean: true }, cleanups);
    expect(connack(c)?.sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.2-8] a will is published when the connection is lost; [MQTT-3.1.2-10] not after DISCONNECT', async () => {
    const watcher = await client({ clientId: 'will-watch' });
    const wills: string[] = [];
    watcher.on('message', (_t, m) => wills.push(m.toString()));
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    const lost = await rawConn(
      suite.g.mqttPort,
      { clientId: 'w1', will: { topic: 'wills/w1', payload: Buffer.from('gone'), qos: 1, retain: false } },
      cleanups,
    );
    lost.s.destroy();
    await waitFor('the will', () => wills.includes('gone'), 5000, 20);
    const polite = await rawConn(
      suite.g.mqttPort,
      { clientId: 'w2', will: { topic: 'wills/w2', payload: Buffer.from('polite'), qos: 1, retain: false } },
      cleanups,
    );
    polite.send({ cmd: 'disconnect' });
    await polite.closed;
    await sleep(300);
    expect(wills).not.toContain('polite');
  });

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] a retained message goes to new subscribers; [MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty one deletes it', async () => {
    const pub = await client({ clientId: 'ret-pub' });
    await pub.publishAsync('ret/line1', 'running', { qos: 1, retain: true });
    const s1 = await client({ clientId: 'ret-s1' });
    const got1: Array<[string, boolean]> = [];
    s1.on('message', (_t, m, p) => got1.push([m.toString(), p.retain]));
    await s1.subscribeAsync('ret/#', { qos: 1 });
    await waitFor('the retained message', () => got1.length === 1, 5000, 20);
    expect(got1[0]).toEqual(['running', true]);
    await pub.publishAsync('ret/line1', '', { qos: 1, retain: true });
    const s2 = await client({ clientId: 'ret-s2' });
    const got2: string[] = [];
    s2.on('message', (_t, m) => got2.push(m.toString()));
    await s2.subscribeAsync('ret/#', { qos: 1 });
    await sleep(300);
    expect(got2).toEqual([]);
  });

  it('[MQTT-3.3.2-2] a PUBLISH topic must not contain wildcards', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: 'wild' }, cleanups);
    c.send(publishPacket('plant/+/x', 1, 1));
    await c.closed;
    expect(c.got.some((p) => p.cmd === 'puback')).toBe(false);
  });

  it('[MQTT-4.7.2-1] wildcard filters at the first level do not match topics that start with $', async () => {
    const all = await client({ clientId: 'hash-all' });
    const dollar = await client({ clientId: 'hash-dollar' });
    const a: string[] = [];
    const d: string[] = [];
    all.on('message', (t) => a.push(t));
    dollar.on('message', (t) => d.push(t));
    await all.subscribeAsync(['#', '+/status'], { qos: 0 });
    await dollar.subscribeAsync('$plant/#', { qos: 0 });
    const pub = await client({ clientId: 'dollar-pub' });
    await pub.publishAsync('$plant/status', '1', { qos: 1 });
    await waitFor('the $-topic subscriber', () => d.includes('$plant/status'), 5000, 20);
    await sleep(200);
    expect(a.filter((t) => t.startsWith('$'))).toEqual([]);
  });

  it('[MQTT-3.8.4-4] [MQTT-3.8.4-5] one SUBACK for a SUBSCRIBE of several filters, return codes in order', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: 'multi-sub' }, cleanups);
    c.send({
      cmd: 'subscribe',
      messageId: 9,
      subscriptions: [
        { topic: 'a/#', qos: 0 },
        { topic: 'b/+', qos: 1 },
        { topic: 'c', qos: 2 },
      ],
    });
    await waitFor('SUBACK', () => c.got.some((p) => p.cmd === 'suback'), 5000, 10);
    const s = c.got.find((p) => p.cmd === 'suback') as unknown as { messageId: number; granted: number[] };
    expect(s.messageId).toBe(9);
    expect(s.granted).toEqual([0, 1, 2]);
  });

  it('[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: 'ping' }, cleanups);
    c.send({ cmd: 'pingreq' });
    await waitFor('PINGRESP', () => c.got.some((p) => p.cmd === 'pingresp'), 5000, 10);
  });

  it('[MQTT-3.1.2-24] a client silent for 1.5 × its keep-alive is disconnected', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: 'sleepy', keepalive: 1 }, cleanups);
    const t0 = Date.now();
    await c.closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('[MQTT-4.6.0-2] [MQTT-4.3.2-2] PUBACKs come back in the order of the PUBLISHes', async () => {
    const c = await rawConn(suite.g.mqttPort, { clientId: 'order' }, cleanups);
    for (let i = 1; i <= 50; i++) c.send(publishPacket('plant/order/v', i, 1, String(i)));
    await waitFor('50 PUBACKs', () => c.got.filter((p) => p.cmd === 'puback').length === 50, 10_000, 10);
    expect(c.got.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});
