/** The journal's frame CRC against zlib's CRC-32, at every length and alignment a frame can have. */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Range, mqttMax, pointMax, readMqtt, readPoint, writeMqtt, writePoint, type MqttView, type PointView } from '../../src/core/records.js';

describe('crc32Range', () => {
  it('equals zlib.crc32 for every length from 0 to 300 bytes at offsets 0 to 7', () => {
    const buf = randomBytes(320);
    let checked = 0;
    for (let len = 0; len <= 300; len++)
      for (let off = 0; off < 8; off++) {
        expect(crc32Range(buf, off, off + len), `len ${len} offset ${off}`).toBe(crc32(buf.subarray(off, off + len)));
        checked++;
      }
    expect(checked).toBe(301 * 8);
  });

  it('sees a single flipped bit anywhere in a short frame', () => {
    const buf = randomBytes(60);
    const good = crc32Range(buf, 0, buf.length);
    for (let bit = 0; bit < buf.length * 8; bit++) {
      buf[bit >> 3] ^= 1 << (bit & 7);
      expect(crc32Range(buf, 0, buf.length)).not.toBe(good);
      buf[bit >> 3] ^= 1 << (bit & 7);
    }
  });
});

describe('records: names and bodies written a char at a time read back as written', () => {
  const names = ['plant/line1/speed', 'plänt/ünïcode/°C', 'a', '', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(300), 'ascii-then-ü', '温度/センサー'];
  it('an MQTT record: topic and client id of every kind, bodies on both sides of 32 bytes', () => {
    const b = Buffer.alloc(4096, 0xee);
    for (const topic of names)
      for (const clientId of ['bench-1', 'clïent', ''])
        for (const body of [Buffer.alloc(0), Buffer.from('1234.5'), Buffer.alloc(32, 7), Buffer.alloc(33, 9), Buffer.from('ü€')]) {
          const end = writeMqtt(b, 10, 1.7e12, 1, topic, clientId, body);
          expect(end - 10).toBeLessThanOrEqual(1 + mqttMax(topic, clientId, body)); // the kind byte, then the payload
          const v = readMqtt(b, 11, end, {} as MqttView);
          expect([v.receivedMs, v.qos, v.topic, v.clientId, b.subarray(v.bodyStart, v.bodyEnd).toString('hex')]).toEqual([
            1.7e12,
            1,
            topic,
            clientId,
            body.toString('hex'),
          ]);
        }
  });
  it('a point record: device and tag of every kind', () => {
    const b = Buffer.alloc(4096);
    for (const device of names)
      for (const tag of names.slice(0, 4)) {
        const pt = { ts: 1.7e12, value: 1.5, quality: 0, device, tag, text: 'ok ü' };
        const end = writePoint(b, 0, 1.8e12, pt);
        expect(end).toBeLessThanOrEqual(1 + pointMax(pt));
        const v = readPoint(b, 1, end, {} as PointView);
        expect([v.device, v.tag, v.text, v.value, v.ts]).toEqual([device, tag, 'ok ü', 1.5, 1.7e12]);
      }
  });
});
