/**
 * plainDecimal (encode/json-points.ts), the single-value payload's way past a string: whatever it
 * reads equals Number() of the text bit for bit (-0 too), it reads every plain decimal of up to 15
 * significant digits, and it leaves everything else (blanks, exponents, long digit runs, junk) to
 * the text path. And a route of format number stores what it stored before, through the decoder.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordKind, sealFrame, walkFrames, writeMqtt } from '../../src/core/records.js';
import { ChunkDecoder } from '../../src/encode/decode.js';
import { plainDecimal } from '../../src/encode/json-points.js';

const PLAIN = /^[-+]?(?:\d+\.?\d*|\.\d+)$/;
function significant(text: string): number {
  return text.replace(/^[-+]/, '').replace('.', '').replace(/^0+/, '').length;
}
function decimals(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}
const read = (text: string) => {
  const b = Buffer.from(`#${text}#`); // bytes around it that are not its own
  return plainDecimal(b, 1, b.length - 1);
};

describe('plainDecimal', () => {
  it('equals Number() wherever it reads, and reads every plain decimal it should (property)', () => {
    const numberish = fc.string({ unit: fc.constantFrom(...'0123456789.-+ eE'.split('')), maxLength: 26 });
    const decimal = fc
      .tuple(fc.constantFrom('', '-', '+'), fc.stringMatching(/^\d{0,16}$/), fc.boolean(), fc.stringMatching(/^\d{0,24}$/))
      .map(([s, a, dot, b]) => `${s}${a}${dot ? '.' : ''}${dot ? b : ''}`);
    const doubles = fc.double({ noNaN: true }).chain((d) => fc.constantFrom(String(d), d.toFixed(3), d.toPrecision(15), d.toFixed(0)));
    fc.assert(
      fc.property(fc.oneof(numberish, decimal, doubles), (text) => {
        const v = read(text);
        if (v !== undefined) expect(Object.is(v, Number(text))).toBe(true);
        const should = PLAIN.test(text) && significant(text) <= 15 && decimals(text) <= 22;
        expect(v !== undefined).toBe(should);
      }),
      { numRuns: 20_000 },
    );
  });

  it('reads the usual single values and leaves the rest', () => {
    for (const [text, want] of [
      ['1234.5', 1234.5],
      ['-0', -0],
      ['+7', 7],
      ['.5', 0.5],
      ['5.', 5],
      ['0000000000000000001', 1],
      ['0.1', 0.1],
      ['123456789012345', 123456789012345],
    ] as const)
      expect(Object.is(read(text), want)).toBe(true);
    for (const text of ['', '-', '.', ' 1', '1 ', '1e3', '1.2.3', '1234567890123456', '0.12345678901234567', 'true', 'NaN', '0x10'])
      expect(read(text)).toBeUndefined();
  });

  it('gives a number route the rows the text path gives', () => {
    const texts = ['1234.5', '-0', ' 42 ', '1e3', 'true', '12345678901234567890', '0.30000000000000004', '.5', 'abc', '', '+7'];
    const chunk = Buffer.alloc(8192);
    let o = 0;
    for (const [i, t] of texts.entries()) o += sealFrame(chunk, o, writeMqtt(chunk, o + 8, 1.7e12 + i, 1, `plant/d/t${i}`, 'c', Buffer.from(t)));
    let kinds = 0;
    walkFrames(chunk, 0, o, true, (k) => (kinds += k === RecordKind.Mqtt ? 1 : 0));
    expect(kinds).toBe(texts.length);
    const d = new ChunkDecoder({
      routes: [{ topic: 'plant/{device}/{tag+}', format: 'number', device: '{device}', tag: '{tag}' }],
      unmatched: 'reject',
      max_past: 1e12,
      max_future: 1e12,
    } as never);
    const r = d.decode(chunk.subarray(0, o));
    const rows = r.tables[0];
    // value Float64 and text String of each row, read back from the RowBinary (ts, device, tag come first).
    const got: Array<[number, string]> = [];
    for (let k = 0; k < rows.rows; k++) {
      let p = rows.rowStarts[k] + 8;
      for (let s = 0; s < 2; s++) p += 1 + rows.data[p];
      const value = rows.data.readDoubleLE(p);
      const textLen = rows.data[p + 8];
      got.push([value, rows.data.toString('utf8', p + 9, p + 9 + textLen)]);
    }
    expect(got).toEqual([
      [1234.5, ''],
      [-0, ''],
      [42, ''],
      [1000, ''],
      [1, ''],
      [12345678901234567000, '12345678901234567890'],
      [0.30000000000000004, ''],
      [0.5, ''],
      [7, ''],
    ]);
    expect(r.rejects).toEqual({ not_a_number: 1, empty: 1 });
  });
});
