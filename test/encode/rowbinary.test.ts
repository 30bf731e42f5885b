import { describe, expect, it } from 'vitest';
import { RowBinaryWriter } from '../../src/encode/rowbinary.js';

function readString(b: Buffer, o: number): [string, number] {
  let len = 0;
  let shift = 0;
  for (;;) {
    const x = b[o++];
    len += (x & 0x7f) * 2 ** shift;
    if (!(x & 0x80)) break;
    shift += 7;
  }
  return [b.toString('utf8', o, o + len), o + len];
}

describe('RowBinary writer', () => {
  it.each([0, 1, 127, 128, 16383, 16384, 70000])('round-trips a string of %i bytes', (n) => {
    const w = new RowBinaryWriter(8);
    const s = 'x'.repeat(n);
    w.string(s);
    w.string('after');
    const b = w.take();
    const [a, o] = readString(b, 0);
    expect(a).toBe(s);
    expect(readString(b, o)).toEqual(['after', b.length]);
  });

  it('counts UTF-8 bytes, not characters, in the length', () => {
    const w = new RowBinaryWriter(8);
    w.string('ü'.repeat(64)); // 128 bytes: a two-byte length
    const b = w.take();
    expect([b[0], b[1]]).toEqual([0x80, 0x01]);
    expect(readString(b, 0)).toEqual(['ü'.repeat(64), b.length]);
  });

  it('writes Int64 exactly for timestamps and negative values', () => {
    const w = new RowBinaryWriter(8);
    for (const v of [0, 1_700_000_000_123, Number.MAX_SAFE_INTEGER, -1, -1_700_000_000_123]) w.int64(v);
    const b = w.take();
    expect([0, 1, 2, 3, 4].map((i) => b.readBigInt64LE(i * 8))).toEqual([0n, 1_700_000_000_123n, BigInt(Number.MAX_SAFE_INTEGER), -1n, -1_700_000_000_123n]);
  });
});
