import { afterAll, describe, expect, inject, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { PROMISED_METRICS } from '../../src/telemetry/metrics.js';

async function publishAll(port: number, n: number, topic: (i: number) => string, body: (i: number) => string): Promise<RawPublisher> {
  const pub = new RawPublisher({ port, clientId: `pub-${Date.now()}`, qos: 1, inflight: 200 });
  await pub.connect();
  for (let i = 0; i < n; i++) {
    await pub.room();
    pub.publish(topic(i), body(i), i);
  }
  while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
  return pub;
}

const gateways: TestGateway[] = [];
afterAll(async () => {
  for (const g of gateways) await g.stop();
});

describe.each([
  ['embedded chDB', undefined],
  ['Debian clickhouse-server', 'server'],
] as const)('10,000 QoS 1 messages into %s', (_name, kind) => {
  it('arrive as 10,000 rows, and the metrics promised are exported', async () => {
    const database = kind ? `fg_ingest_${Date.now()}` : 'fieldgate';
    const g = await TestGateway.create({ clickhouse: kind ? { url: inject('clickhouseUrl'), database } : undefined });
    gateways.push(g);
    await g.start();
    const pub = await publishAll(
      g.mqttPort,
      10_000,
      (i) => `plant/press${i % 10}/hydraulic/pressure`,
      (i) => String(i),
    );
    expect(pub.acked).toBe(10_000);
    pub.close();
    await g.drained();
    const got = await g.query(`SELECT count(), uniqExact(value), min(value), max(value), uniqExact(device), any(tag) FROM ${database}.points`);
    expect(got).toBe('10000\t10000\t0\t9999\t10\thydraulic/pressure');
    const m = await g.metrics();
    for (const name of PROMISED_METRICS) expect(m, name).toMatch(new RegExp(`^${name}`, 'm'));
    expect(await g.metric('fieldgate_sink_rows_inserted_total{sink="clickhouse",table="points"}')).toBe(10_000);
    expect(await g.metric('fieldgate_mqtt_messages_received_total{qos="1"}')).toBe(10_000);
    expect(await g.stop()).toBe(0);
  });
});
