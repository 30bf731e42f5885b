/**
 * Sparkplug B from birth to death, with payloads made by an independent
 * encoder (Eclipse Tahu's sparkplug-payload, protobufjs 6) and published by
 * mqtt.js as an edge node would.
 */
import { createRequire } from 'node:module';
import { connectAsync, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { sleep, waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const require = createRequire(import.meta.url);
const sp = (
  require('sparkplug-payload') as {
    get(ns: string): { encodePayload(p: unknown): Uint8Array; decodePayload(b: Uint8Array): { metrics: Array<{ name: string; value: unknown }> } };
  }
).get('spBv1.0');
const Long = require('sparkplug-payload/node_modules/long') as { fromString(s: string, unsigned: boolean): unknown };

const cleanups = cleanupsAfterAll();

const T0 = Date.now();
const pay = (seq: number, metrics: unknown[], timestamp = Date.now()) => Buffer.from(sp.encodePayload({ timestamp, seq, metrics }));

describe('Sparkplug B', () => {
  it('births, aliases across chunks and a restart, sequence gaps and rebirth, deaths, and the host STATE', async () => {
    const g = await TestGateway.create({ yaml: '' });
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(
      g.config,
      readFileSync(g.config, 'utf8').replace(
        '    - { topic: "json/{device}", format: json }\n',
        '    - { topic: "json/{device}", format: json }\n    - { topic: "spBv1.0/#", format: sparkplug }\n',
      ),
    );
    cleanups.push(() => g.stop());
    await g.start();
    const url = `mqtt://127.0.0.1:${g.mqttPort}`;
    const q = (sql: string) => g.query(sql);

    // The host's STATE is retained.
    const watcher = await connectAsync(url, { clientId: 'scada', reconnectPeriod: 0 });
    cleanups.push(() => watcher.endAsync(true));
    const states: string[] = [];
    watcher.on('message', (t, m) => t.startsWith('spBv1.0/STATE/') && states.push(m.toString()));
    await watcher.subscribeAsync('spBv1.0/STATE/#', { qos: 1 });
    await waitFor('STATE', () => states.length === 1, 5000, 20);
    expect(JSON.parse(states[0])).toMatchObject({ online: true });

    // An edge node listens for commands and births.
    const edge: MqttClient = await connectAsync(url, { clientId: 'edge1', reconnectPeriod: 0 });
    cleanups.push(() => edge.endAsync(true));
    const commands: Array<{ topic: string; metrics: Array<{ name: string; value: unknown }> }> = [];
    edge.on('message', (topic, m) => commands.push({ topic, metrics: sp.decodePayload(m).metrics }));
    await edge.subscribeAsync('spBv1.0/plant1/NCMD/edge1', { qos: 0 });
    const N = 'spBv1.0/plant1';
    await edge.publishAsync(
      `${N}/NBIRTH/edge1`,
      pay(0, [
        { name: 'Temperature', alias: 1, type: 'Double', value: 20.5, timestamp: T0 },
        { name: 'Energy', alias: 2, type: 'UInt64', value: Long.fromString('18446744073709551615', true), timestamp: T0 },
        { name: 'Node Control/Rebirth', alias: 3, type: 'Boolean', value: false, timestamp: T0 },
      ]),
      { qos: 1 },
    );
    await edge.publishAsync(
      `${N}/DBIRTH/edge1/press1`,
      pay(1, [
        { name: 'Pressure', alias: 10, type: 'Float', value: 181.5, timestamp: T0 },
        { name: 'Running', alias: 11, type: 'Boolean', value: true, timestamp: T0 },
        { name: 'Mode', alias: 12, type: 'String', value: 'auto', timestamp: T0 },
        { name: 'Offset', alias: 13, type: 'Int16', value: -5, timestamp: T0 },
      ]),
      { qos: 1 },
    );
    // Later chunks carry aliases only (chunks are cut every 200 ms here).
    await sleep(500);
    await edge.publishAsync(`${N}/NDATA/edge1`, pay(2, [{ alias: 1, type: 'Double', value: 21.5, timestamp: T0 + 1000 }]), { qos: 1 });
    await edge.publishAsync(`${N}/DDATA/edge1/press1`, pay(3, [{ alias: 10, type: 'Float', value: 182, timestamp: T0 + 1000 }]), { qos: 1 });
    await waitFor('rows', async () => (await q("SELECT count() FROM fieldgate.points WHERE device LIKE 'plant1/%'")) === '9', 10_000, 100);
    expect(
      await q("SELECT groupArray(value) FROM (SELECT value FROM fieldgate.points WHERE device = 'plant1/edge1' AND tag = 'Temperature' ORDER BY ts)"),
    ).toBe('[20.5,21.5]');
    expect(
      await q("SELECT groupArray(value) FROM (SELECT value FROM fieldgate.points WHERE device = 'plant1/edge1/press1' AND tag = 'Pressure' ORDER BY ts)"),
    ).toBe('[181.5,182]');
    expect(await q("SELECT text FROM fieldgate.points WHERE tag = 'Energy'")).toBe('18446744073709551615');
    expect(await q("SELECT value FROM fieldgate.points WHERE tag = 'Offset'")).toBe('-5');
    expect(await q("SELECT text FROM fieldgate.points WHERE tag = 'Mode'")).toBe('auto');
    // The metric's own timestamp, not the receive time.
    expect(await q("SELECT toUnixTimestamp64Milli(ts) FROM fieldgate.points WHERE tag = 'Temperature' ORDER BY ts LIMIT 1")).toBe(String(T0));

    // A sequence gap (3 → 7): counted, and the node is asked to rebirth (once per rebirth_interval).
    await edge.publishAsync(`${N}/NDATA/edge1`, pay(7, [{ alias: 1, type: 'Double', value: 22.5 }]), { qos: 1 });
    await edge.publishAsync(`${N}/NDATA/edge1`, pay(9, [{ alias: 1, type: 'Double', value: 23.5 }]), { qos: 1 });
    await waitFor('the rebirth request', () => commands.length >= 1, 5000, 20);
    await sleep(300);
    expect(commands).toHaveLength(1);
    expect(commands[0].metrics.map((m) => [m.name, m.value])).toEqual([['Node Control/Rebirth', true]]);
    expect(await g.metric('fieldgate_sparkplug_sequence_gaps_total')).toBe(2);
    expect(await g.metric('fieldgate_sparkplug_rebirth_requests_total{reason="seq_gap"}')).toBe(1);

    // A node nobody has heard a birth from: its aliases cannot be named; a rebirth is requested.
    const stranger = await connectAsync(url, { clientId: 'edge9', reconnectPeriod: 0 });
    cleanups.push(() => stranger.endAsync(true));
    const asked: string[] = [];
    stranger.on('message', (t) => asked.push(t));
    await stranger.subscribeAsync(`${N}/NCMD/edge9`, { qos: 0 });
    await stranger.publishAsync(`${N}/NDATA/edge9`, pay(5, [{ alias: 1, type: 'Double', value: 1 }]), { qos: 1 });
    await waitFor('edge9 asked to rebirth', () => asked.length === 1, 5000, 20);
    await waitFor('the unknown alias counted', async () => (await g.metric('fieldgate_records_rejected_total{reason="sparkplug_alias"}')) === 1, 10_000, 100);

    // Restart: the alias tables come back from state_dir, so aliases-only messages still resolve.
    expect(await g.stop()).toBe(0);
    await g.start();
    await edge.endAsync(true);
    const edge2 = await connectAsync(url, { clientId: 'edge1', reconnectPeriod: 0 });
    cleanups.push(() => edge2.endAsync(true));
    await edge2.publishAsync(`${N}/NDATA/edge1`, pay(10, [{ alias: 1, type: 'Double', value: 30.5, timestamp: T0 + 5000 }]), { qos: 1 });
    await waitFor(
      'the row after the restart',
      async () => (await q("SELECT count() FROM fieldgate.points WHERE tag = 'Temperature' AND value = 30.5")) === '1',
      10_000,
      100,
    );

    // Deaths: one bad-quality row per known metric of the device, then of the node and its devices.
    await edge2.publishAsync(`${N}/DDEATH/edge1/press1`, pay(11, []), { qos: 1 });
    await waitFor(
      'DDEATH rows',
      async () => (await q(`SELECT count() FROM fieldgate.points WHERE device = 'plant1/edge1/press1' AND quality = ${0x80000000}`)) === '4',
      10_000,
      100,
    );
    await edge2.publishAsync(
      `${N}/NDEATH/edge1`,
      Buffer.from(sp.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: 0 }] })),
      { qos: 1 },
    );
    await waitFor(
      'NDEATH rows',
      async () => (await q(`SELECT count() FROM fieldgate.points WHERE device LIKE 'plant1/edge1%' AND quality = ${0x80000000}`)) === '11',
      10_000,
      100,
    );
    expect(await q(`SELECT arraySort(groupUniqArray(tag)) FROM fieldgate.points WHERE device = 'plant1/edge1' AND quality = ${0x80000000}`)).toBe(
      "['Energy','Node Control/Rebirth','Temperature']",
    );
    expect(g.alive).toBe(true);
  });
});
