import { describe, expect, it } from 'vitest';
import { ChunkDecoder } from '../../src/encode/decode.js';
import type { MqttConfig } from '../../src/encode/config.js';
import { TEST_MQTT, mqttChunk, readPoints } from '../helpers/frames.js';

const R = 1_700_000_000_000;
const cfg = TEST_MQTT;

function decode(msgs: Array<{ topic: string; body: string | Buffer; recv?: number }>) {
  const r = new ChunkDecoder(cfg).decode(mqttChunk(msgs));
  const rows = r.tables[0] ? readPoints(r.tables[0].data) : [];
  return { r, rows };
}

describe('decode', () => {
  it('reads a number payload with device and tag from the topic', () => {
    const { rows, r } = decode([{ topic: 'plant/press1/hydraulic/pressure', body: '181.5' }]);
    expect(rows).toEqual([{ ts: R, device: 'press1', tag: 'hydraulic/pressure', value: 181.5, text: '', quality: 0, source: 'mqtt' }]);
    expect(r.tsReplaced).toEqual({ missing: 1 });
  });

  it('reads a JSON object of tags, nested keys joined with /', () => {
    const { rows } = decode([{ topic: 'json/press1', body: '{"temp":41.2,"rpm":1200,"motor":{"on":true,"mode":"auto"}}' }]);
    expect(rows.map((x) => [x.device, x.tag, x.value, x.text])).toEqual([
      ['press1', 'temp', 41.2, ''],
      ['press1', 'rpm', 1200, ''],
      ['press1', 'motor/on', 1, ''],
      ['press1', 'motor/mode', Number.NaN, 'auto'],
    ]);
  });

  it('reads point objects and arrays of them, with ts and quality', () => {
    const body = JSON.stringify([
      { tag: 'a', value: 1, ts: R - 1000, quality: 'uncertain' },
      { tag: 'b', value: 2, ts: new Date(R - 2000).toISOString(), quality: 2147483648 },
      { x: 5 },
    ]);
    const { rows } = decode([{ topic: 'json/d', body }]);
    expect(rows.map((x) => [x.tag, x.value, x.ts, x.quality])).toEqual([
      ['a', 1, R - 1000, 0x40000000],
      ['b', 2, R - 2000, 0x80000000],
      ['x', 5, R, 0],
    ]);
  });

  it('keeps integers beyond 2^53 exact in text', () => {
    const { rows } = decode([
      { topic: 'json/d', body: '{"big":18446744073709551615,"neg":-9223372036854775808,"s":"12345678901234567890"}' },
      { topic: 'plant/d/c', body: '9007199254740993' },
    ]);
    expect(rows.map((x) => [x.tag, x.value, x.text])).toEqual([
      ['big', 2 ** 64, '18446744073709551615'], // the nearest double
      ['neg', -9223372036854775808, '-9223372036854775808'],
      ['s', Number.NaN, '12345678901234567890'],
      ['c', 9007199254740992, '9007199254740993'],
    ]);
  });

  it('replaces timestamps outside the window with the receive time and counts them', () => {
    const { rows, r } = decode([
      {
        topic: 'json/d',
        body: JSON.stringify([
          { tag: 'a', value: 1, ts: 0 },
          { tag: 'b', value: 1, ts: R + 3_600_000 },
          { tag: 'c', value: 1, ts: 'yesterday' },
        ]),
      },
    ]);
    expect(rows.map((x) => x.ts)).toEqual([R, R, R]);
    expect(r.tsReplaced).toEqual({ out_of_range: 2, invalid: 1 });
  });

  it('counts malformed payloads by reason and keeps one sample each', () => {
    const { rows, r } = decode([
      { topic: 'plant/d/t', body: '' },
      { topic: 'plant/d/t', body: 'NaN' },
      { topic: 'plant/d/t', body: '1e400' },
      { topic: 'plant/d/t', body: Buffer.from([0xff, 0x00, 0xfe]) },
      { topic: 'json/d', body: '{"a":' },
      { topic: 'json/d', body: 'NaN' },
      { topic: 'json/d', body: '{"a":null}' },
      { topic: 'json/d', body: '{"a":1e999}' },
      { topic: 'json/d', body: '{"value":1,"quality":"great"}' },
      { topic: 'json/d', body: '{"huge":123456789012345678901234567890}' },
      { topic: 'nowhere', body: '1' },
      { topic: 'plant/d/ok', body: '3' },
    ]);
    expect(rows.map((x) => x.tag)).toEqual(['ok']);
    expect(r.rejects).toEqual({ empty: 1, not_a_number: 2, not_finite: 2, bad_json: 2, bad_value: 1, bad_quality: 1, out_of_range: 1, no_route: 1 });
    expect(r.samples.bad_json).toBe('topic="json/d" payload="{\\"a\\":"');
    expect(r.records).toBe(12);
  });

  it('routes a topic it has seen before as the first time, across records and chunks (the per-topic cache)', () => {
    const d = new ChunkDecoder(cfg);
    const msgs = [
      { topic: 'plant/p1/speed', body: '1' },
      { topic: 'json/p2', body: '{"t":2}' },
      { topic: 'nowhere/x', body: '9' },
      { topic: 'plant/p1/speed', body: '3' },
      { topic: 'plant/p3/a/b', body: '4' },
      { topic: 'nowhere/x', body: '9' },
      { topic: 'json/p2', body: '{"t":5}' },
    ];
    for (let pass = 0; pass < 2; pass++) {
      const r = d.decode(mqttChunk(msgs));
      expect(readPoints(r.tables[0].data).map((x) => [x.device, x.tag, x.value])).toEqual([
        ['p1', 'speed', 1],
        ['p2', 't', 2],
        ['p1', 'speed', 3],
        ['p3', 'a/b', 4],
        ['p2', 't', 5],
      ]);
      expect(r.rejects).toEqual({ no_route: 2 });
    }
  });

  it('keeps raw payloads as text', () => {
    const { rows } = decode([{ topic: 'raw/d/msg', body: 'hello: world' }]);
    expect(rows.map((x) => [x.device, x.tag, x.text])).toEqual([['d', 'msg', 'hello: world']]);
  });
});

describe('custom tables', () => {
  it('a value that does not fit leaves no bytes behind: the rows around it stay whole', () => {
    const routes = {
      ...TEST_MQTT,
      routes: [
        {
          topic: 'm/{id}',
          format: 'json' as const,
          device: '',
          tag: '',
          table: 't',
          columns: [
            { name: 'id', topic: 'id' },
            { name: 'v', json: 'v' },
          ],
        },
      ],
    } as unknown as MqttConfig;
    const r = new ChunkDecoder(routes).decode(
      mqttChunk([
        { topic: 'm/a', body: '{"v":1}' },
        { topic: 'm/b', body: '{"v":300}' },
        { topic: 'm/c', body: '{"v":2}' },
      ]),
      { t: { id: 'String', v: 'Int8' } },
    );
    const t = r.tables.find((x) => x.table === 't')!;
    expect(t.rows).toBe(2);
    // A topic seen again reads its captures again (a custom table's columns take them from the topic).
    const again = new ChunkDecoder(routes).decode(
      mqttChunk([
        { topic: 'm/a', body: '{"v":1}' },
        { topic: 'm/c', body: '{"v":2}' },
        { topic: 'm/a', body: '{"v":3}' },
      ]),
      { t: { id: 'String', v: 'Int8' } },
    );
    expect(again.tables.find((x) => x.table === 't')!.data.toString('hex')).toBe('016101016302016103');
    // "a" then 1, "c" then 2: LEB128 length, the byte, the Int8.
    expect(t.data.toString('hex')).toBe('016101016302');
    expect(Array.from(t.rowStarts)).toEqual([0, 3]);
    expect(Array.from(t.rowRecords)).toEqual([0, 2]);
    expect(r.letters).toEqual([{ record: 1, table: 't', reason: 'column v: 300 is out of range for Int8' }]);
  });
});
