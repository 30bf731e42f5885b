/** The AckGate against a fake socket: PUBACK bytes wait for the commit that holds their PUBLISH, in order. */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AckGate } from '../../src/broker/ack-gate.js';

class FakeSocket extends EventEmitter {
  written: string[] = [];
  destroyed = false;
  write(chunk: unknown, _enc?: unknown, cb?: unknown): boolean {
    this.written.push(Buffer.isBuffer(chunk) ? chunk.toString() : String(chunk));
    if (typeof cb === 'function') (cb as () => void)();
    return true;
  }
}

describe('AckGate', () => {
  it('holds bytes written after an append until that append is committed, and keeps their order', () => {
    let committed = 0;
    const gate = new AckGate(() => committed);
    const s = new FakeSocket();
    gate.attach(s as never);
    s.write('connack'); // nothing appended yet: goes at once
    gate.appended(s, 100);
    s.write('puback1');
    gate.appended(s, 200);
    s.write('puback2');
    expect(s.written).toEqual(['connack']);
    committed = 150;
    gate.release(150);
    expect(s.written).toEqual(['connack', 'puback1']);
    committed = 200;
    gate.release(200);
    expect(s.written).toEqual(['connack', 'puback1', 'puback2']);
    s.write('pingresp'); // everything committed: at once again
    expect(s.written.at(-1)).toBe('pingresp');
  });

  it('calls each held write back once it went out, and drops what a closed socket held', () => {
    let committed = 0;
    const gate = new AckGate(() => committed);
    const a = new FakeSocket();
    const b = new FakeSocket();
    gate.attach(a as never);
    gate.attach(b as never);
    const done: string[] = [];
    gate.appended(a, 10);
    a.write('a1', () => done.push('a1'));
    gate.appended(b, 20);
    b.write('b1', undefined, () => done.push('b1'));
    b.emit('close');
    committed = 20;
    gate.release(20);
    expect(a.written).toEqual(['a1']);
    expect(b.written).toEqual([]);
    expect(done).toEqual(['a1']);
  });

  it('writes what one commit releases as one buffer', () => {
    let committed = 0;
    const gate = new AckGate(() => committed);
    const s = new FakeSocket();
    gate.attach(s as never);
    for (let i = 1; i <= 3; i++) {
      gate.appended(s, i * 10);
      s.write(`p${i}`);
    }
    committed = 30;
    gate.release(30);
    expect(s.written).toEqual(['p1p2p3']);
  });

  it('puts the lean path’s PUBACKs in the same queue as other writes, four bytes each, in order', () => {
    let committed = 0;
    const gate = new AckGate(() => committed);
    const s = new FakeSocket();
    const acks: Buffer[] = [];
    s.write = (chunk: unknown) => (acks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))), true);
    gate.attach(s as never);
    const ack = gate.acker(s);
    ack(7); // nothing appended: at once
    gate.appended(s, 10);
    for (let id = 1; id <= 300; id++) ack(id); // grows past its first 1,024 bytes
    s.write('suback'); // an aedes write between two PUBACKs keeps its place
    ack(0x1234);
    gate.appended(s, 20);
    ack(65535);
    expect(acks).toHaveLength(1);
    committed = 10;
    gate.release(10);
    committed = 20;
    gate.release(20);
    const want = Buffer.concat([
      ...Array.from({ length: 300 }, (_, i) => Buffer.from([0x40, 2, (i + 1) >> 8, (i + 1) & 0xff])),
      Buffer.from('suback'),
      Buffer.from([0x40, 2, 0x12, 0x34]),
    ]);
    expect(acks[0]).toEqual(Buffer.from([0x40, 2, 0, 7]));
    expect(acks[1]).toEqual(want);
    expect(acks[2]).toEqual(Buffer.from([0x40, 2, 0xff, 0xff]));
  });

  it('keeps one group for the appends of the batch being filled, and a new one once that batch is cut', () => {
    let committed = 0;
    let batchStart = 0; // the journal's open batch starts here
    const gate = new AckGate(
      () => committed,
      () => batchStart,
    );
    const s = new FakeSocket();
    gate.attach(s as never);
    const ack = gate.acker(s);
    const held = () =>
      (s as unknown as Record<symbol, { held: unknown[] }>)[Object.getOwnPropertySymbols(s).find((k) => k.description === 'fieldgate.ackGate')!].held;
    for (let id = 1; id <= 100; id++) {
      gate.appended(s, id * 10);
      ack(id);
    }
    s.write('suback'); // an aedes write in the same batch keeps its place between PUBACKs
    gate.appended(s, 1010);
    ack(101);
    expect(held()).toHaveLength(1);
    // The batch is cut at 1010 (its commit starts); what is appended next waits for the next one.
    batchStart = 1010;
    gate.appended(s, 1020);
    ack(102);
    expect(held()).toHaveLength(2);
    committed = 1010;
    gate.release(1010);
    const puback = (id: number) => Buffer.from([0x40, 2, id >> 8, id & 0xff]).toString();
    expect(s.written).toEqual([Array.from({ length: 100 }, (_, i) => puback(i + 1)).join('') + 'suback' + puback(101)]);
    committed = 1020;
    gate.release(1020);
    expect(s.written.at(-1)).toBe(puback(102));
  });
});
