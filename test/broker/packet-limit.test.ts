/** The max_packet_size hook against the real mqtt-packet parser: fails when its internals change. */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { limitPacketSize } from '../../src/broker/packet-limit.js';

const require = createRequire(import.meta.url);
const mqttPacket = require('mqtt-packet') as {
  parser(o?: object): { parse(b: Buffer): number; on(ev: string, f: (x: unknown) => void): void };
  generate(p: object): Buffer;
};

function run(size: number, max: number): { packets: number; errors: string[] } {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  limitPacketSize(parser, max);
  const out = { packets: 0, errors: [] as string[] };
  parser.on('packet', () => out.packets++);
  parser.on('error', (e) => out.errors.push((e as Error).message));
  const bytes = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(size), qos: 0, retain: false, dup: false });
  // Only the fixed header and a little of the body: the limit must act before the body is buffered.
  parser.parse(bytes.subarray(0, 16));
  if (out.errors.length === 0) parser.parse(bytes.subarray(16));
  return out;
}

describe('limits.max_packet_size on mqtt-packet', () => {
  it('passes a packet within the limit', () => {
    expect(run(500, 1024)).toEqual({ packets: 1, errors: [] });
  });

  it('refuses a packet past the limit as soon as its length is read', () => {
    const r = run(100_000, 1024);
    expect(r.packets).toBe(0);
    expect(r.errors).toEqual([expect.stringMatching(/^packet too large: 100003 bytes \(limits.max_packet_size 1024\)$/)]);
  });

  it('says what changed when the parser has no such internals', () => {
    expect(() => limitPacketSize({}, 10)).toThrow(/mqtt-packet changed/);
  });
});
