import type { MqttConfig } from '../../src/encode/config.js';
import { crc32 } from 'node:zlib';
import { RecordKind } from '../../src/core/records.js';

/** Builds a chunk of mqtt frames, as the journal writes them. */
export function mqttChunk(msgs: Array<{ topic: string; body: string | Buffer; recv?: number; qos?: number }>): Buffer {
  const parts: Buffer[] = [];
  for (const m of msgs) {
    const topic = Buffer.from(m.topic);
    const client = Buffer.from('test');
    const body = typeof m.body === 'string' ? Buffer.from(m.body) : m.body;
    const payload = Buffer.alloc(1 + 8 + 1 + 2 + topic.length + 2 + client.length + body.length);
    let p = 0;
    payload[p++] = RecordKind.Mqtt;
    payload.writeDoubleLE(m.recv ?? 1_700_000_000_000, p);
    p += 8;
    payload[p++] = m.qos ?? 1;
    payload.writeUInt16LE(topic.length, p);
    p += 2;
    p += topic.copy(payload, p);
    payload.writeUInt16LE(client.length, p);
    p += 2;
    p += client.copy(payload, p);
    body.copy(payload, p);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(payload.length, 0);
    head.writeUInt32LE(crc32(payload), 4);
    parts.push(head, payload);
  }
  return Buffer.concat(parts);
}

/** Reads RowBinary rows of the points table back. */
export function readPoints(data: Buffer): Array<{ ts: number; device: string; tag: string; value: number; text: string; quality: number; source: string }> {
  const rows = [];
  let o = 0;
  const str = (): string => {
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = data[o++];
      len |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    const s = data.toString('utf8', o, o + len);
    o += len;
    return s;
  };
  while (o < data.length) {
    const ts = Number(data.readBigInt64LE(o));
    o += 8;
    const device = str();
    const tag = str();
    const value = data.readDoubleLE(o);
    o += 8;
    const text = str();
    const quality = data.readUInt32LE(o);
    o += 4;
    const source = str();
    rows.push({ ts, device, tag, value, text, quality, source });
  }
  return rows;
}

/** The routes the decoder tests use: number, json and raw, as a user's config would give them. */
export const TEST_MQTT: MqttConfig = {
  routes: [
    { topic: 'plant/{device}/{tag+}', format: 'number', device: '{device}', tag: '{tag}', table: undefined, columns: [] },
    { topic: 'json/{device}', format: 'json', device: '{device}', tag: '{tag}', table: undefined, columns: [] },
    { topic: 'raw/{device}/{tag}', format: 'raw', device: '{device}', tag: '{tag}', table: undefined, columns: [] },
  ],
  max_past: 86_400_000,
  max_future: 300_000,
  unmatched: 'count',
  sparkplug: { host_id: 'fieldgate', rebirth_interval: 30_000 },
};
