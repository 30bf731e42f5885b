/**
 * read-slices.ts against a real aedes on a real socket: one pipelined write of thousands of QoS 0
 * and QoS 1 publishes to a subscribed topic reaches aedes at most `slice` per turn of the event
 * loop, every one delivered, in order within each QoS, and every PUBACK in order; without the slicing the same
 * write reaches aedes in one go (what made the flood test's heap swing, docs/architecture.md).
 * Packets the listener says it took (as the lean path's does) do not count; the parser gets at most 8 KiB at once and a
 * larger packet still arrives whole; a client that closes with packets waiting drops them and the
 * broker goes on. The subscriber here is aedes's own (it completes a delivery at once, so aedes asks
 * for its next read from inside a parse, which must wait: mqtt-packet's parser is not re-entrant).
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { sliceReads } from '../../src/broker/read-slices.js';
import { generate, publishPacket, rawConn } from '../helpers/mqtt-raw.js';
import { waitFor } from '../helpers/ports.js';

interface Run {
  /** PUBLISH packets handed to aedes's own listener per turn of the event loop (turns with none left out). */
  perTurn: number[];
  /** The size of each buffer the parser was given. */
  parsed: number[];
  delivered: string[];
  pubacks: number[];
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function broker(slice: number | undefined, light?: (p: { topic: string }) => boolean) {
  const aedes = await Aedes.createBroker({ concurrency: 0 });
  let count = 0;
  const server: Server = createServer((socket) => {
    const client = aedes.handle(socket) as unknown as {
      _parser: { listeners(e: string): Array<(p: unknown) => void>; removeAllListeners(e: string): void; on(e: string, f: unknown): void };
    };
    // Counts what reaches aedes's enqueue, behind the slicing; says it took a `light` packet, as the
    // lean path's listener does for what it journals itself (aedes still delivers it here).
    const enqueue = client._parser.listeners('packet')[0];
    client._parser.removeAllListeners('packet');
    client._parser.on('packet', function counted(this: unknown, p: { cmd: string; topic: string }): boolean {
      if (p.cmd === 'publish') count++;
      enqueue.call(this, p);
      return p.cmd === 'publish' && (light?.(p) ?? false);
    });
    if (slice !== undefined) expect(sliceReads(client, { packets: slice, bytes: 8192 })).toBe(true);
    const parser = client._parser as unknown as { parse(b: Buffer): unknown };
    const parse = parser.parse.bind(parser);
    parser.parse = (b: Buffer) => (run.parsed.push(b.length), parse(b));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => aedes.close(() => server.close(r))));
  const port = (server.address() as { port: number }).port;
  const run: Run = { perTurn: [], parsed: [], delivered: [], pubacks: [] };
  aedes.subscribe(
    'plant/big',
    (p: { payload: Buffer | string }, cb: () => void) => {
      run.delivered.push(`big ${p.payload.length}`);
      cb();
    },
    () => undefined,
  );
  // A delivery that never ends (a subscriber that stopped reading): its publish stays in aedes's hands.
  aedes.subscribe(
    'plant/stuck',
    () => undefined,
    () => undefined,
  );
  aedes.subscribe(
    'plant/later',
    (p: { payload: Buffer | string }, cb: () => void) => {
      run.delivered.push(p.payload.toString());
      setImmediate(cb);
    },
    () => undefined,
  );
  aedes.subscribe(
    'plant/watched',
    (p: { payload: Buffer | string }, cb: () => void) => {
      run.delivered.push(p.payload.toString());
      cb();
    },
    () => undefined,
  );
  // One mark per turn of the event loop: an Immediate that queues the next one.
  let ticking = true;
  const tick = () => {
    if (count) run.perTurn.push(count);
    count = 0;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  cleanups.push(() => Promise.resolve((ticking = false)));
  return { port, run };
}

/** n publishes, every third QoS 1, in one write; the payload is the index. */
function pipelined(n: number, topic = () => 'plant/watched'): { bytes: Buffer; qos1: number[] } {
  const parts: Buffer[] = [];
  const qos1: number[] = [];
  for (let i = 1; i <= n; i++) {
    const q = i % 3 === 0 ? 1 : 0;
    if (q) qos1.push(i);
    parts.push(generate(publishPacket(topic(), q ? i : 0, q, String(i))));
  }
  return { bytes: Buffer.concat(parts), qos1 };
}

/**
 * Every one of `expected` delivered once, and in order within each QoS (aedes delivers a QoS 1
 * publish after its PUBACK is written, so QoS 0 ones behind it may pass it, with or without slices).
 */
function deliveredInOrder(delivered: string[], expected: number[]): void {
  const got = delivered.map(Number);
  expect([...got].sort((a, b) => a - b)).toEqual(expected);
  for (const q of [0, 1]) {
    const seq = got.filter((i) => (i % 3 === 0 ? 1 : 0) === q);
    expect(seq).toEqual([...seq].sort((a, b) => a - b));
  }
}

describe('read slices', () => {
  it('hands aedes at most `slice` packets per turn, in order, with every delivery and PUBACK', async () => {
    const { port, run } = await broker(64);
    const c = await rawConn(port, { clientId: 'slices' }, cleanups);
    const n = 5000;
    const { bytes, qos1 } = pipelined(n);
    c.s.write(bytes);
    await waitFor('all delivered', () => run.delivered.length >= n, 20_000, 10);
    await waitFor('all PUBACKs', () => c.got.filter((p) => p.cmd === 'puback').length >= qos1.length, 10_000, 10);
    deliveredInOrder(
      run.delivered,
      Array.from({ length: n }, (_, i) => i + 1),
    );
    expect(c.got.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual(qos1);
    expect(Math.max(...run.perTurn)).toBeLessThanOrEqual(64);
    expect(run.perTurn.length).toBeGreaterThanOrEqual(Math.ceil(n / 64));
  });

  it('without it, the same write reaches aedes in far larger batches', async () => {
    const { port, run } = await broker(undefined);
    const c = await rawConn(port, { clientId: 'whole' }, cleanups);
    const n = 5000;
    c.s.write(pipelined(n).bytes);
    await waitFor('all delivered', () => run.delivered.length >= n, 20_000, 10);
    expect(Math.max(...run.perTurn)).toBeGreaterThan(500);
  });

  it('does not count light packets, and keeps their order among the others', async () => {
    const { port, run } = await broker(64, (p) => p.topic === 'plant/light');
    const c = await rawConn(port, { clientId: 'light' }, cleanups);
    const n = 3000;
    // Every other packet is light: one turn takes 64 counted ones and the light ones between them.
    const { bytes, qos1 } = pipelined(
      n,
      (() => {
        let i = 0;
        return () => (++i % 2 ? 'plant/light' : 'plant/watched');
      })(),
    );
    c.s.write(bytes);
    await waitFor('all PUBACKs', () => c.got.filter((p) => p.cmd === 'puback').length >= qos1.length, 20_000, 10);
    expect(c.got.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual(qos1);
    await waitFor('watched delivered', () => run.delivered.length >= n / 2, 10_000, 10);
    deliveredInOrder(
      run.delivered,
      Array.from({ length: n / 2 }, (_, i) => 2 * i + 2),
    );
    expect(Math.max(...run.perTurn)).toBeGreaterThan(64);
    expect(Math.max(...run.perTurn)).toBeLessThanOrEqual(2 * 64 + 1);
  });

  it('parses at most `bytes` at once, and a packet larger than that arrives whole, in order', async () => {
    const { port, run } = await broker(64);
    const c = await rawConn(port, { clientId: 'bytes' }, cleanups);
    const big = Buffer.alloc(200_000, 7);
    const { bytes } = pipelined(2000);
    c.s.write(Buffer.concat([bytes, generate(publishPacket('plant/big', 1, 1, big)), generate(publishPacket('plant/watched', 0, 0, 'last'))]));
    await waitFor('all delivered', () => run.delivered.includes('last'), 20_000, 10);
    expect(run.delivered.filter((d) => d.startsWith('big'))).toEqual(['big 200000']);
    expect(run.delivered).toHaveLength(2002);
    expect(Math.max(...run.parsed)).toBeLessThanOrEqual(8192);
    expect(run.parsed.reduce((a, b) => a + b, 0)).toBeGreaterThan(bytes.length + big.length);
  });

  it('reads on what arrived while deliveries never end, as aedes does on each arrival', async () => {
    const { port, run } = await broker(64);
    const c = await rawConn(port, { clientId: 'stuck' }, cleanups);
    const n = 3000;
    // Every hundredth to a subscriber that never takes it: each of those stays in aedes's hands.
    let i = 0;
    const { bytes } = pipelined(n, () => (++i % 100 === 0 ? 'plant/stuck' : 'plant/later'));
    c.s.write(bytes);
    const expected = Array.from({ length: n }, (_, k) => k + 1).filter((k) => k % 100 !== 0);
    await waitFor('all delivered', () => run.delivered.length >= expected.length, 10_000, 10);
    deliveredInOrder(run.delivered, expected);
  });

  it('drops what waits when the client closes, and serves the next client', async () => {
    const { port, run } = await broker(16);
    const c = await rawConn(port, { clientId: 'gone' }, cleanups);
    c.s.write(pipelined(4000).bytes);
    await waitFor('some delivered', () => run.delivered.length > 0, 10_000, 5);
    c.s.destroy();
    await c.closed;
    const after = run.delivered.length;
    expect(after).toBeLessThan(4000);
    const d = await rawConn(port, { clientId: 'next' }, cleanups);
    d.send(publishPacket('plant/watched', 1, 1, 'next'));
    await waitFor('PUBACK', () => d.got.some((p) => p.cmd === 'puback'), 5000, 10);
    expect(run.delivered.at(-1)).toBe('next');
  });
});
