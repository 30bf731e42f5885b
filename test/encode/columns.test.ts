import { describe, expect, it } from 'vitest';
import { encodeColumn, jsonPath, parseColumnType } from '../../src/encode/columns.js';
import { RowBinaryWriter } from '../../src/encode/rowbinary.js';

const enc = (type: string, v: unknown): string => {
  const t = parseColumnType(type);
  if (typeof t === 'string') return `unsupported: ${t}`;
  const w = new RowBinaryWriter(16);
  const err = encodeColumn(t, v, w);
  return err ?? w.take().toString('hex');
};

describe('custom table columns', () => {
  it.each([
    ['Int8', -1, 'ff'],
    ['UInt16', 513, '0102'],
    ['Int64', '-2', 'feffffffffffffff'],
    ['UInt64', '18446744073709551615', 'ffffffffffffffff'],
    ['Float32', 1.5, '0000c03f'],
    ['Float64', '2', '0000000000000040'],
    ['Bool', 'true', '01'],
    ['String', 'ab', '026162'],
    ['LowCardinality(String)', 7, '0137'],
    ['String', { a: 1 }, '077b2261223a317d'],
    ['DateTime', 1000, '01000000'],
    ["DateTime('UTC')", '1970-01-01T00:00:02Z', '02000000'],
    ['DateTime64(3)', 5, '0500000000000000'],
    ["DateTime64(6, 'UTC')", 5, '8813000000000000'],
    ['DateTime64(0)', 1999, '0100000000000000'],
    ['Nullable(Int32)', null, '01'],
    ['Nullable(Int32)', 1, '0001000000'],
    ["Enum8('a' = 1, 'b' = 2)", 'b', '02'],
    ["Enum16('x' = -1000)", 'x', '18fc'],
  ])('%s ← %j', (type, v, hex) => {
    expect(enc(type, v)).toBe(hex);
  });

  it.each([
    ['Int8', 300, '300 is out of range for Int8'],
    ['UInt8', -1, '-1 is out of range for UInt8'],
    ['Int32', 1.5, '1.5 is not an integer'],
    ['Float64', 'abc', '"abc" is not a number'],
    ['Bool', 'yes', '"yes" is not a boolean'],
    ['DateTime', 'soon', '"soon" is not a time'],
    ["Enum8('a' = 1)", 'c', '"c" is not one of the enum\'s names (a)'],
    ['String', undefined, 'no value, and the column is not Nullable'],
    [
      'Array(String)',
      'x',
      'unsupported: column type Array(String) is not supported (Int/UInt 8–64, Float32/64, Bool, String, LowCardinality, DateTime, DateTime64, Nullable, Enum8/16 are)',
    ],
  ])('%s refuses %j', (type, v, reason) => {
    expect(enc(type, v)).toBe(reason);
  });

  it('follows dot paths without reaching into prototypes', () => {
    expect(jsonPath({ a: { b: [1, { c: 2 }] } }, 'a.b.1.c')).toBe(2);
    expect(jsonPath({ a: 1 }, 'a.b')).toBeUndefined();
    expect(jsonPath({}, 'constructor')).toBeUndefined();
    expect(jsonPath({}, '__proto__')).toBeUndefined();
  });
});
