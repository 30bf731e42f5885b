import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';

describe('malformed payloads', () => {
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
  });

  it('are counted by reason, logged once with a sample, and never crash the gateway', async () => {
    g = await TestGateway.create();
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'bad', qos: 1 });
    await pub.connect();
    const now = Date.now();
    const bad: Array<[string, string | Buffer]> = [
      ['json/m1', '{"temp": 41.2,'],
      ['json/m1', 'NaN'],
      ['plant/m1/t', 'NaN'],
      ['plant/m1/t', '1e999'],
      ['plant/m1/t', '123456789012345678901234567890'],
      ['plant/m1/t', ''],
      ['json/m1', ''],
      ['plant/m1/t', Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x81])],
      ['json/m1', Buffer.from([0x7b, 0xff, 0x00, 0x7d])],
      ['json/m1', JSON.stringify({ value: 1, ts: now + 86_400_000, tag: 'future' })],
      ['json/m1', JSON.stringify({ value: 2, ts: 1000, tag: 'past' })],
      ['json/m1', JSON.stringify({ x: null })],
      ['unrouted/topic', '1'],
    ];
    for (let round = 0; round < 3; round++) for (const [t, b] of bad) pub.publish(t, b);
    pub.publish('plant/m1/good', '7.5');
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    pub.close();
    await g.drained();
    expect(g.alive).toBe(true);
    const rows = await g.query("SELECT tag, value, ts > now() - 3600 FROM fieldgate.points WHERE device = 'm1' ORDER BY tag");
    expect(rows).toBe(['future\t1\t1', 'future\t1\t1', 'future\t1\t1', 'good\t7.5\t1', 'past\t2\t1', 'past\t2\t1', 'past\t2\t1'].join('\n'));
    const r = (reason: string) => g!.metric(`fieldgate_records_rejected_total{reason="${reason}"}`);
    expect(await r('bad_json')).toBe(3 * 3);
    expect(await r('not_a_number')).toBe(3 * 2);
    expect(await r('not_finite')).toBe(3);
    expect(await r('out_of_range')).toBe(3);
    expect(await r('empty')).toBe(3 * 2);
    expect(await r('bad_value')).toBe(3);
    expect(await r('no_route')).toBe(3);
    expect(await g.metric('fieldgate_timestamps_replaced_total{reason="out_of_range"}')).toBe(6);
    // One log line per reason (rate-limited to one a minute), each with a sample.
    const lines = g.logs.split('\n').filter((l) => l.includes('ingest: values rejected'));
    const reasons = lines.map((l) => (JSON.parse(l) as { reason: string }).reason).sort();
    expect(reasons).toEqual(['bad_json', 'bad_value', 'empty', 'no_route', 'not_a_number', 'not_finite', 'out_of_range']);
    expect(lines.find((l) => l.includes('"bad_json"'))).toContain('"sample":"topic=\\"json/m1\\"');
    expect(await g.stop()).toBe(0);
  });
});
