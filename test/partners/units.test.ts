/** The pure pieces of a share: globs, intervals, message formats, receive filters, and config errors. */
import { describe, expect, it } from 'vitest';
import { compileGlob, compileSelects } from '../../src/core/glob.js';
import { formatIssue } from '../../src/core/schema.js';
import { parseConfig } from '../../src/config/load.js';
import { fillTopic, formatItems, type OutMessage } from '../../src/partners/format.js';
import { templateFilter } from '../../src/partners/outbox.js';
import { Downsampler, aggregateOf, type WindowState } from '../../src/partners/window.js';
import type { SendEntry } from '../../src/partners/config.js';
import type { ShareSpec } from '../../src/core/ports.js';
import { ChunkDecoder } from '../../src/encode/decode.js';
import { selectShared, shareFilter } from '../../src/encode/share.js';
import { TEST_MQTT, mqttChunk } from '../helpers/frames.js';

describe('globs', () => {
  it.each([
    ['press*', 'press1', true],
    ['press*', 'xpress1', false],
    ['count*', 'count/total', true],
    ['p?ess', 'press', true],
    ['p?ess', 'pss', false],
    ['a.b', 'aXb', false],
    ['a.b', 'a.b', true],
    ['*', '', true],
    ['[x]', '[x]', true],
  ])('%s ~ %s → %s', (g, s, want) => expect(compileGlob(g)(s)).toBe(want));

  it('a select needs both globs; a list needs any', () => {
    const m = compileSelects([
      { device: 'press*', tag: 'count*' },
      { device: 'oven', tag: 'temp' },
    ]);
    expect(m('press1', 'count')).toBe(true);
    expect(m('press1', 'secret')).toBe(false);
    expect(m('oven', 'temp')).toBe(true);
    expect(m('oven', 'count')).toBe(false);
  });
});

describe('intervals', () => {
  it('closes an interval when a later one starts, and when the journal clock is past it by one more interval', () => {
    const d = new Downsampler(1000);
    expect(d.add('p', 't', 10_100, 1, '', 0)).toBeUndefined();
    expect(d.add('p', 't', 10_500, 5, '', 0)).toBeUndefined();
    expect(d.add('p', 't', 10_900, 3, '', 0)).toBeUndefined();
    const w = d.add('p', 't', 11_000, 7, '', 0)!;
    expect(w).toMatchObject({ from: 10_000, to: 11_000, first: 1, last: 3, min: 1, max: 5, count: 3 });
    expect(aggregateOf(w, 'avg')).toBe(3);
    expect(aggregateOf(w, 'sum')).toBe(9);
    expect(d.due(12_999)).toEqual([]);
    expect(d.due(13_000).map((x) => x.from)).toEqual([11_000]);
    expect(d.size).toBe(0);
  });

  it('folds a late value into the open interval without moving its last value', () => {
    const d = new Downsampler(1000);
    d.add('p', 't', 5_500, 2, '', 0);
    d.add('p', 't', 4_200, 9, '', 0);
    const [w] = d.due(10_000);
    expect(w).toMatchObject({ from: 5_000, last: 2, max: 9, count: 2 });
  });

  it('keeps min, max and avg over numbers only (text values count, but have no number)', () => {
    const d = new Downsampler(1000);
    d.add('p', 't', 100, Number.NaN, 'ON', 0);
    d.add('p', 't', 200, 4, '', 0);
    const [w] = d.due(5000);
    expect(w).toMatchObject({ count: 2, numbers: 1, min: 4, max: 4 });
    expect(aggregateOf(w, 'avg')).toBe(4);
  });

  it('restores its open intervals from saved state (as the cursor carries them)', () => {
    const a = new Downsampler(1000);
    a.add('p', 't', 100, 1, '', 0);
    const b = new Downsampler(1000);
    b.restore(JSON.parse(JSON.stringify(a.state())) as WindowState);
    b.add('p', 't', 300, 3, '', 0);
    expect(b.add('p', 't', 1100, 0, '', 0)).toMatchObject({ count: 2, sum: 4 });
  });
});

describe('message formats', () => {
  const entry = (o: Partial<SendEntry>): SendEntry => ({
    select: [{ device: '*', tag: '*' }],
    every: undefined,
    aggregate: [],
    topic: 'suppliers/acme/{device}/{tag}',
    format: 'json',
    qos: 1,
    ...o,
  });
  const ctx = { gateway: 'line3', partner: 'oem', idPrefix: 'line3:j1' };
  const item = { id: '7:3', device: 'press1', tag: 'count', ts: Date.UTC(2026, 0, 1), value: 12, text: '', quality: 0 };

  it('json: one documented object per value, with an id from the journal position', () => {
    const out: OutMessage[] = [];
    formatItems(ctx, 0, entry({}), [item], out);
    expect(out).toEqual([
      {
        kind: 'topic',
        topic: 'suppliers/acme/press1/count',
        qos: 1,
        id: 'line3:j1:0:7:3',
        device: 'press1',
        tag: 'count',
        ts: item.ts,
        body: { id: 'line3:j1:0:7:3', gateway: 'line3', device: 'press1', tag: 'count', ts: '2026-01-01T00:00:00.000Z', value: 12, quality: 0 },
      },
    ]);
  });

  it('json: a text value has value null and its text; aggregates are fields', () => {
    const out: OutMessage[] = [];
    formatItems(ctx, 1, entry({}), [{ ...item, value: Number.NaN, text: 'RUNNING' }], out);
    expect((out[0] as { body: object }).body).toMatchObject({ value: null, text: 'RUNNING' });
    const d = new Downsampler(10_000);
    d.add('press1', 'count', item.ts, 1, '', 0);
    d.add('press1', 'count', item.ts + 5, 3, '', 0);
    const [w] = d.due(item.ts + 60_000);
    const agg: OutMessage[] = [];
    formatItems(ctx, 0, entry({ every: 10_000, aggregate: ['last', 'max', 'avg', 'count'] }), [{ ...item, id: 'w1', window: w }], agg);
    expect((agg[0] as { body: object }).body).toMatchObject({
      last: 3,
      max: 3,
      avg: 2,
      count: 2,
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-01T00:00:10.000Z',
    });
  });

  it('opcua-json: a Part 14 network message of DataValues', () => {
    const out: OutMessage[] = [];
    formatItems(ctx, 0, entry({ format: 'opcua-json' }), [{ ...item, quality: 0x80000000 }], out);
    const body = (out[0] as { body: Record<string, unknown> }).body;
    expect(body).toEqual({
      MessageId: 'line3:j1:0:7:3',
      MessageType: 'ua-data',
      PublisherId: 'line3',
      Messages: [
        {
          DataSetWriterId: 1,
          DataSetWriterName: 'press1',
          Timestamp: '2026-01-01T00:00:00.000Z',
          Status: 0x80000000,
          Payload: { count: { Value: 12, SourceTimestamp: '2026-01-01T00:00:00.000Z', StatusCode: { Code: 0x80000000 } } },
        },
      ],
    });
  });

  it('sparkplug: one message of metrics per device', () => {
    const out: OutMessage[] = [];
    formatItems(ctx, 0, entry({ format: 'sparkplug' }), [item, { ...item, id: '7:4', tag: 'temp', value: 41 }, { ...item, id: '7:5', device: 'oven' }], out);
    expect(out.map((m) => (m.kind === 'sparkplug' ? [m.device, m.metrics.map((x) => x.name)] : []))).toEqual([
      ['press1', ['count', 'temp']],
      ['oven', ['count']],
    ]);
  });

  it('names never widen a topic: + and # in a device or tag become _', () => {
    expect(fillTopic('s/{gateway}/{device}/{tag}', { gateway: 'g', partner: 'p', device: 'a+b', tag: 'x/#' })).toBe('s/g/a_b/x/_');
  });

  it('receive templates become subscription filters', () => {
    expect(templateFilter('orders/acme/{device}/{tag+}')).toBe('orders/acme/+/#');
    expect(templateFilter('orders/+/x/#')).toBe('orders/+/x/#');
  });
});

describe('worker selection', () => {
  it("names a value by its place among all the chunk's values, whatever the selection (ids stay stable across a reload)", () => {
    const bytes = mqttChunk([
      { topic: 'plant/p1/a', body: '1' },
      { topic: 'plant/p1/b', body: '2' },
      { topic: 'json/p2', body: '{"c":3,"d":4}' },
    ]);
    const run = (spec: ShareSpec) =>
      selectShared(new ChunkDecoder(TEST_MQTT).decode(bytes, {}, { keep: shareFilter(spec), ordinals: true }), spec).values.map(
        (v) => `${v.device}/${v.tag}#${v.seq}`,
      );
    expect(run({ entries: [[{ device: '*', tag: '*' }]] })).toEqual(['p1/a#0', 'p1/b#1', 'p2/c#2', 'p2/d#3']);
    expect(run({ entries: [[{ device: 'p2', tag: 'd' }]] })).toEqual(['p2/d#3']);
    expect(run({ entries: [[{ device: 'p1', tag: 'b' }], [{ device: '*', tag: 'c' }]] })).toEqual(['p1/b#1', 'p2/c#2']);
  });
});

describe('partners configuration errors', () => {
  const errors = (yaml: string) => parseConfig(`state_dir: /tmp/x\n${yaml}`, 'f.yaml', {}).issues.map(formatIssue);
  it.each([
    ['partners:\n  - name: oem\n    send: [ { select: { device: "*" } } ]', 'f.yaml:3:5: partners[0].broker: give either broker or webhook'],
    [
      'partners:\n  - name: oem\n    broker: { url: "http://x:1", client_id: a }\n    send: [ { select: {} } ]',
      'f.yaml:4:20: partners[0].broker.url: got "http://x:1", expected mqtt://host:port or mqtts://host:port',
    ],
    [
      'partners:\n  - name: oem\n    broker: { url: "mqtt://x:1", client_id: a }\n    send: [ { select: {}, aggregate: [max] } ]',
      'f.yaml:5:38: partners[0].send[0].aggregate: aggregates need every (the interval they are computed over)',
    ],
    [
      'partners:\n  - name: oem\n    broker: { url: "mqtt://x:1", client_id: a }\n    send: [ { select: {}, topic: "s/{line}" } ]',
      'f.yaml:5:34: partners[0].send[0].topic: {line} is not a placeholder; expected {gateway}, {partner}, {device}, {tag}',
    ],
    [
      'partners:\n  - name: oem\n    broker: { url: "mqtt://x:1", client_id: a }\n    receive: [ { topic: "o/{a}/{a}" } ]',
      'f.yaml:5:25: partners[0].receive[0].topic: "o/{a}/{a}" is not a valid template: capture {a} appears twice',
    ],
    [
      'partners:\n  - name: oem\n    webhook: { url: "http://10.0.0.1/in" }\n    send: [ { select: {} } ]',
      'f.yaml:4:21: partners[0].webhook.url: http://10.0.0.1/in is plain http to another host: what is shared would cross the network unencrypted; expected https://',
    ],
    [
      'partners:\n  - name: oem\n    broker: { url: "mqtt://x:1", client_id: a, ca_file: /nonexistent.pem }\n    send: [ { select: {} } ]',
      'f.yaml:4:57: partners[0].broker.ca_file: ca_file needs an mqtts:// url',
    ],
    [
      'partners:\n  - { name: a, broker: { url: "mqtt://x:1", client_id: a }, send: [ { select: {} } ] }\n  - { name: a, broker: { url: "mqtt://x:1", client_id: b }, send: [ { select: {} } ] }',
      'f.yaml:3:3: partners: partner name "a" is used twice',
    ],
    [
      'partners:\n  - name: "o e m"\n    broker: { url: "mqtt://x:1", client_id: a }\n    send: [ { select: {} } ]',
      'f.yaml:3:11: partners[0].name: got "o e m", expected up to 64 letters, digits, _ or -',
    ],
  ])('%s', (yaml, want) => expect(errors(yaml)).toContain(want));

  it('a select may be one mapping or a list of them', () => {
    const r = parseConfig(
      'state_dir: /tmp/x\npartners:\n  - name: oem\n    broker: { url: "mqtt://x:1", client_id: a }\n    send:\n      - { select: [ { device: "a*" }, { tag: "b" } ] }\n      - { select: { device: "c" } }',
      'f.yaml',
      {},
    );
    expect(r.issues).toEqual([]);
    expect(r.config!.partners[0].send.map((s) => s.select)).toEqual([
      [
        { device: 'a*', tag: '*' },
        { device: '*', tag: 'b' },
      ],
      [{ device: 'c', tag: '*' }],
    ]);
  });
});
