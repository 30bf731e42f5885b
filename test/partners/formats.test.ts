/**
 * What the partner's platform reads: Sparkplug B decoded by Eclipse Tahu's sparkplug-payload (an
 * independent decoder), OPC UA Part 14 JSON, and intervals that a replay of the journal sends
 * exactly as live operation did (same ids, same values).
 */
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { TestGateway } from '../helpers/gateway.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { sleep, waitFor } from '../helpers/ports.js';

const require = createRequire(import.meta.url);
const sp = (
  require('sparkplug-payload') as {
    get(ns: string): {
      decodePayload(b: Uint8Array): {
        seq?: { toNumber(): number } | number;
        metrics: Array<{ name: string; value: unknown; type: string; timestamp?: unknown }>;
      };
    };
  }
).get('spBv1.0');
const cleanups = cleanupsAfterAll();

describe('partners: message formats and replayed intervals', () => {
  let g: TestGateway | undefined;
  let m: Mosquitto | undefined;
  afterAll(async () => {
    await g?.stop();
    await m?.stop();
  });

  it('sends Sparkplug B, Part 14 JSON and intervals; a replay from the journal sends the same intervals', async () => {
    m = await Mosquitto.create(['user acme', 'topic write spBv1.0/#', 'topic write suppliers/acme/#', '', 'user oem', 'topic readwrite #'], ['acme', 'oem']);
    await m.start();
    const broker = m;
    const got: Array<{ topic: string; payload: Buffer }> = [];
    const platform: MqttClient = await connectAsync(broker.url, { ...broker.tls('oem'), clientId: 'oem-fmt', protocolVersion: 4 });
    cleanups.push(() => platform.endAsync(true));
    platform.on('message', (topic, payload) => got.push({ topic, payload }));
    await platform.subscribeAsync('#', { qos: 1 });

    const yaml = [
      'partners:',
      '  - name: oem',
      `    broker: { url: "${broker.url}", client_id: acme-fmt, ca_file: ${join(broker.dir, 'ca.pem')}, cert_file: ${join(broker.dir, 'acme.pem')}, key_file: ${join(broker.dir, 'acme.key')} }`,
      '    sparkplug: { group_id: suppliers, edge_node_id: acme }',
      '    send:',
      '      - { select: { device: "press1", tag: "count" }, format: sparkplug }',
      '      - { select: { device: "press1", tag: "count" }, format: opcua-json, topic: "suppliers/acme/ua/{device}" }',
      '      - { select: { device: "press1", tag: "temp" }, every: 500ms, aggregate: [first, last, min, max, avg, count], topic: "suppliers/acme/agg/{device}/{tag}" }',
      '    from: earliest',
    ].join('\n');
    g = await TestGateway.create({ batchMaxDelay: '50ms', yaml });
    await g.start();
    const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    for (let i = 0; i < 40; i++) {
      await c.publishAsync('plant/press1/count', String(i), { qos: 1 });
      await c.publishAsync('plant/press1/temp', String(20 + (i % 5)), { qos: 1 });
      await sleep(50);
    }
    await waitFor('the counts', () => got.filter((x) => x.topic.startsWith('suppliers/acme/ua/')).length >= 40, 30_000, 50);

    // Sparkplug: an NBIRTH with bdSeq, a DBIRTH naming the metric, DDATA with every count in order.
    const spb = got.filter((x) => x.topic.startsWith('spBv1.0/'));
    expect(spb[0].topic).toBe('spBv1.0/suppliers/NBIRTH/acme');
    expect(sp.decodePayload(spb[0].payload).metrics.map((x) => x.name)).toEqual(['bdSeq']);
    expect(spb[1].topic).toBe('spBv1.0/suppliers/DBIRTH/acme/press1');
    expect(sp.decodePayload(spb[1].payload).metrics.map((x) => x.name)).toContain('count');
    const counts = spb
      .filter((x) => x.topic === 'spBv1.0/suppliers/DDATA/acme/press1')
      .flatMap((x) => sp.decodePayload(x.payload).metrics.map((mm) => ({ name: mm.name, value: mm.value, type: mm.type })));
    expect(counts.map((x) => x.value)).toEqual([...Array(40).keys()]);
    expect(new Set(counts.map((x) => `${x.name}:${x.type}`))).toEqual(new Set(['count:Double']));
    const seqs = spb.map((x) => Number(sp.decodePayload(x.payload).seq));
    expect(seqs.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);

    // Part 14 JSON: a network message of one DataSetMessage whose field is a DataValue.
    const ua = got
      .filter((x) => x.topic === 'suppliers/acme/ua/press1')
      .map(
        (x) =>
          JSON.parse(x.payload.toString()) as {
            MessageType: string;
            PublisherId: string;
            Messages: Array<{ DataSetWriterId: number; Payload: Record<string, { Value: number; SourceTimestamp: string }> }>;
          },
      );
    expect(ua.map((x) => x.Messages[0].Payload.count.Value)).toEqual([...Array(40).keys()]);
    expect(ua[0].PublisherId.length).toBeGreaterThan(0); // gateway_id
    for (const x of ua) {
      expect(x.MessageType).toBe('ua-data');
      expect(x.PublisherId).toBe(ua[0].PublisherId);
      expect(x.Messages[0].DataSetWriterId).toBe(2);
      expect(Number.isNaN(Date.parse(x.Messages[0].Payload.count.SourceTimestamp))).toBe(false);
    }

    // Intervals: wait for the last ones to close (the journal's clock moves with new values).
    const aggs = () =>
      new Map(
        got
          .filter((x) => x.topic.startsWith('suppliers/acme/agg/'))
          .map((x) => {
            const j = JSON.parse(x.payload.toString()) as { id: string };
            return [j.id, x.payload.toString()];
          }),
      );
    for (let i = 0; i < 20; i++) {
      await c.publishAsync('plant/press1/other', '0', { qos: 1 });
      await sleep(100);
    }
    await waitFor('intervals', () => aggs().size >= 4, 20_000, 100);
    const live = aggs();
    const counted = [...live.values()].reduce((s, t) => s + (JSON.parse(t) as { count: number }).count, 0);
    expect(counted).toBe(40); // every temperature is in exactly one interval
    for (const t of live.values()) {
      const j = JSON.parse(t) as { min: number; max: number; avg: number; first: number; last: number; from: string; to: string };
      expect(j.min).toBeLessThanOrEqual(j.avg);
      expect(j.avg).toBeLessThanOrEqual(j.max);
      expect(Date.parse(j.to) - Date.parse(j.from)).toBe(500);
    }

    // Replay: the partner's cursor is gone; with from: earliest it reads the journal again.
    await g.stop();
    rmSync(join(g.stateDir, 'cursors', 'partner.oem.json'));
    got.length = 0;
    await g.start();
    await waitFor('the replayed intervals', () => [...live.keys()].every((id) => aggs().has(id)), 30_000, 100);
    const replayed = aggs();
    for (const [id, text] of live) expect(replayed.get(id), id).toBe(text);
  }, 120_000);
});
