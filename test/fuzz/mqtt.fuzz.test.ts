/**
 * Fuzzing the broker's wire: fast-check builds valid MQTT 3.1.1 packets from the grammar (CONNECT,
 * PUBLISH of every QoS, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PUBREL, DISCONNECT) and mutates their
 * bytes (flips, truncations, insertions, repeated remaining-length bytes, garbage). Each input goes
 * to the running gateway on its own connection. Afterwards the gateway answers /healthz, still
 * acknowledges and stores QoS 1 values, and no input held a connection past its time bound.
 */
import fc from 'fast-check';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { TestGateway } from '../helpers/gateway.js';
import { generate } from '../helpers/mqtt-raw.js';
import { sleep } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

const str = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('plant/a/b', 'json/x', 'spBv1.0/g/NDATA/e', '#', '+/+', '$SYS/x', '', 'a'.repeat(300)));
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.constantFrom('1', '{"a":1}', '[1,2]', '1234567890123456789'),
);
const packet = fc.oneof(
  fc.record({
    cmd: fc.constant('connect'),
    protocolId: fc.constantFrom('MQTT', 'MQIsdp', 'XXXX'),
    protocolVersion: fc.constantFrom(3, 4, 5, 0, 255),
    clean: fc.boolean(),
    clientId: str,
    keepalive: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    cmd: fc.constant('publish'),
    topic: str,
    payload,
    qos: fc.constantFrom(0, 1, 2),
    messageId: fc.integer({ min: 1, max: 65535 }),
    retain: fc.boolean(),
    dup: fc.boolean(),
  }),
  fc.record({
    cmd: fc.constant('subscribe'),
    messageId: fc.integer({ min: 1, max: 65535 }),
    subscriptions: fc.array(fc.record({ topic: str, qos: fc.constantFrom(0, 1, 2) }), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ cmd: fc.constant('unsubscribe'), messageId: fc.integer({ min: 1, max: 65535 }), unsubscriptions: fc.array(str, { minLength: 1, maxLength: 3 }) }),
  fc.record({ cmd: fc.constantFrom('pingreq', 'disconnect') }),
  fc.record({ cmd: fc.constant('pubrel'), messageId: fc.integer({ min: 1, max: 65535 }) }),
);

function bytesOf(p: Record<string, unknown>): Buffer {
  try {
    return generate(p);
  } catch {
    return Buffer.from([0x30, 0x00]);
  }
}

type Mutation =
  | { kind: 'none' }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'length'; n: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'none' } as const),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('length' as const), n: fc.integer({ min: 1, max: 5 }) }),
);

function mutate(b: Buffer, m: Mutation): Buffer {
  if (b.length === 0) return b;
  switch (m.kind) {
    case 'none':
      return b;
    case 'flip': {
      const c = Buffer.from(b);
      c[m.at % c.length] ^= 1 << m.bit;
      return c;
    }
    case 'truncate':
      return b.subarray(0, m.at % b.length);
    case 'insert': {
      const at = m.at % b.length;
      return Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    }
    case 'length':
      // A remaining length of continuation bytes (0xff…): the parser must bound it.
      return Buffer.concat([b.subarray(0, 1), Buffer.alloc(m.n, 0xff), b.subarray(1)]);
  }
}

/** Sends bytes on a fresh connection; resolves when the gateway closes it or after `ms`. */
function send(port: number, bytes: Buffer, ms: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    const t = setTimeout(() => {
      s.destroy();
      resolve('open');
    }, ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve('closed');
    });
    s.on('connect', () => s.write(bytes));
    s.on('data', () => undefined);
  });
}

describe('MQTT packet fuzzing against the running gateway', () => {
  it(`${RUNS} generated and mutated packet sequences: the gateway stays healthy and keeps storing`, async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const connectBytes = bytesOf({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'fuzz', keepalive: 5 });
    let worst = 0;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(fc.tuple(packet, mutation), { minLength: 1, maxLength: 4 }), async (withConnect, seq) => {
        const bytes = Buffer.concat([...(withConnect ? [connectBytes] : []), ...seq.map(([p, m]) => mutate(bytesOf(p as Record<string, unknown>), m))]);
        const t0 = Date.now();
        await send(g.mqttPort, bytes, 150);
        worst = Math.max(worst, Date.now() - t0);
        cases++;
      }),
      { numRuns: RUNS },
    );
    expect(g.alive).toBe(true);
    expect((await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).status).toBe(200);
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'after-fuzz', qos: 1 });
    await pub.connect();
    for (let i = 0; i < 100; i++) pub.publish('plant/afterfuzz/v', String(i), i);
    const until = Date.now() + 20_000;
    while (pub.pending.size > 0 && Date.now() < until) await sleep(10);
    expect(pub.pending.size).toBe(0);
    pub.close();
    await g.drained();
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'afterfuzz'")).toBe('100');
    expect(worst).toBeLessThan(2000);
    console.log(`mqtt fuzz: ${cases} inputs, worst ${worst} ms per input, gateway healthy and storing afterwards`);
  });
});
