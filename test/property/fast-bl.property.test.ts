/**
 * broker/fast-bl.ts: the in-place reads give what bl's own methods give (the value, or the same
 * error) on random lists of buffers and random offsets and ranges: inside the first buffer, across
 * buffers, past the end, negative. And mqtt-packet, which parses with them, still
 * reads every packet of a stream cut at random places.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ORIGINAL, packetBufferLists } from '../../src/broker/fast-bl.js';

const packetRequire = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
const bl = packetRequire('bl') as ((buf?: Buffer) => Record<string, (...a: unknown[]) => unknown> & { append(b: Buffer): void }) & {
  prototype: Record<string | symbol, unknown>;
};
const mqtt = packetRequire('mqtt-packet') as {
  parser(o: { protocolVersion: number }): { on(e: string, f: (p: unknown) => void): void; parse(b: Buffer): number };
  generate(p: Record<string, unknown>): Buffer;
};

type Outcome = { value: unknown } | { error: string };
function outcome(f: () => unknown): Outcome {
  try {
    return { value: f() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

// Integers only: with a fractional or NaN offset bl itself returns bytes of uninitialised memory (its
// copy allocates unsafe), so two calls of its own differ; fast-bl hands those to bl unchanged.
const offsetArb = fc.integer({ min: -4, max: 40 });
const call = fc.oneof(
  fc.record({ m: fc.constantFrom('readUInt8', 'readUInt16BE', 'readUInt32BE'), args: fc.tuple(offsetArb) }),
  fc.record({ m: fc.constant('readUInt8'), args: fc.constant([]) }),
  fc.record({ m: fc.constant('toString'), args: fc.tuple(fc.constantFrom('utf8', 'hex', 'latin1', undefined), offsetArb, offsetArb) }),
  fc.record({ m: fc.constant('toString'), args: fc.tuple(fc.constantFrom('utf8', undefined)) }),
);

describe('fast-bl: in-place reads on the BufferList mqtt-packet parses with', () => {
  it('is installed on the prototypes mqtt-packet uses', () => {
    const protos = packetBufferLists();
    expect(protos).toHaveLength(2);
    expect(protos[0]).toBe(bl.prototype);
    for (const p of protos) expect(p[ORIGINAL as unknown as string]).toBeDefined();
  });

  it('returns what bl returns, or throws what bl throws, for any list and offsets', () => {
    const orig = bl.prototype[ORIGINAL] as Record<string, (...a: unknown[]) => unknown>;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 12 }), { minLength: 0, maxLength: 4 }),
        fc.array(call, { minLength: 1, maxLength: 8 }),
        (bufs, calls) => {
          // A list of its own for each side and call: what one call leaves behind is not the other's input.
          const list = () => {
            const l = bl();
            for (const b of bufs) l.append(Buffer.from(b));
            return l;
          };
          for (const { m, args } of calls) {
            const fast = outcome(() => list()[m](...args));
            const own = outcome(() => orig[m].call(list(), ...args));
            expect(fast).toEqual(own);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('lets mqtt-packet read every packet of a stream cut anywhere', () => {
    const packets = [
      { cmd: 'publish', topic: 'plant/line1/speed', payload: Buffer.from('1234.5'), qos: 1, messageId: 7, retain: false, dup: false },
      { cmd: 'publish', topic: 'plänt/ünïcode/°C', payload: Buffer.alloc(300, 1), qos: 1, messageId: 65535, retain: false, dup: false },
      { cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false },
      { cmd: 'puback', messageId: 258 },
      { cmd: 'pingreq' },
    ];
    const stream = Buffer.concat(packets.map((p) => mqtt.generate(p)));
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const parser = mqtt.parser({ protocolVersion: 4 });
        const got: Array<Record<string, unknown>> = [];
        parser.on('packet', (p) => got.push(p as Record<string, unknown>));
        let from = 0;
        for (const at of [...cuts.sort((a, b) => a - b), stream.length]) {
          parser.parse(stream.subarray(from, at));
          from = at;
        }
        expect(
          got.map((p) => [p.cmd, p.topic ?? undefined, p.messageId, p.qos, p.payload == null ? undefined : Buffer.from(p.payload as Buffer).toString('hex')]),
        ).toEqual(
          packets.map((p) => [p.cmd, p.topic, p.messageId, p.cmd === 'publish' ? p.qos : 0, p.payload === undefined ? undefined : p.payload.toString('hex')]),
        );
      }),
      { numRuns: 500 },
    );
  });
});
