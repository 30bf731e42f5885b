/**
 * The hand-written Sparkplug B payload reader (core/sparkplug.ts decodePayload) against protobufjs
 * with the same schema, the way fieldgate decoded before (decode, toObject with longs as strings),
 * on random payloads: every value kind, 64-bit extremes, several values of the oneof in one metric
 * (the last wins), repeated scalars, unknown fields of every wire type, and truncated bytes.
 */
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DataType, decodePayload, payload, scanSeq, type SpPayload } from '../../src/core/sparkplug.js';

interface RawMetric {
  name?: string;
  alias?: string;
  timestamp?: string;
  datatype?: number;
  is_null?: boolean;
  int_value?: number;
  long_value?: string;
  float_value?: number;
  double_value?: number;
  boolean_value?: boolean;
  string_value?: string;
  bytes_value?: Buffer;
}

/** fieldgate's decoder before the hand-written one: protobufjs, then the mapping it had. */
function reference(body: Uint8Array): SpPayload {
  const Payload = payload();
  const msg = Payload.toObject(Payload.decode(body), { longs: String, bytes: Buffer }) as { timestamp?: string; seq?: string; metrics?: RawMetric[] };
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const value = (m: RawMetric) => {
    const dt = m.datatype ?? 0;
    if (m.int_value !== undefined) {
      const v = m.int_value;
      return {
        value: dt === DataType.Int8 ? (v << 24) >> 24 : dt === DataType.Int16 ? (v << 16) >> 16 : dt === DataType.Int32 ? v | 0 : v >>> 0,
        text: '',
        unsupported: false,
      };
    }
    if (m.long_value !== undefined) {
      const big = BigInt(m.long_value);
      if (dt === DataType.DateTime) return { value: Number(big), text: new Date(Number(big)).toISOString(), unsupported: false };
      const exact = dt === DataType.Int64 ? BigInt.asIntN(64, big) : big;
      return { value: Number(exact), text: exact.toString(), unsupported: false };
    }
    if (m.float_value !== undefined) return { value: m.float_value, text: '', unsupported: false };
    if (m.double_value !== undefined) return { value: m.double_value, text: '', unsupported: false };
    if (m.boolean_value !== undefined) return { value: m.boolean_value ? 1 : 0, text: '', unsupported: false };
    if (m.string_value !== undefined) return { value: Number.NaN, text: m.string_value, unsupported: false };
    if (m.bytes_value !== undefined) return { value: Number.NaN, text: Buffer.from(m.bytes_value).toString('base64'), unsupported: false };
    return { value: Number.NaN, text: '', unsupported: !m.is_null };
  };
  return {
    timestamp: num(msg.timestamp),
    seq: num(msg.seq),
    metrics: (msg.metrics ?? []).map((m) => ({
      name: m.name,
      alias: num(m.alias),
      timestamp: num(m.timestamp),
      datatype: m.datatype,
      isNull: !!m.is_null,
      ...value(m),
    })),
  };
}

// Fields written by hand with protobufjs's Writer, so a metric can carry several values of the
// oneof, repeat a scalar, or hold unknown fields, as other encoders may send.
const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
type Field = { f: number; kind: 'u64' | 'u32' | 'bool' | 'float' | 'double' | 'string' | 'bytes'; v: unknown };
const unknownField = fc.oneof(
  fc.record({ f: fc.constantFrom(5, 6, 20, 99), kind: fc.constant('u64' as const), v: u64 }),
  fc.record({ f: fc.constantFrom(8, 9, 17, 18, 21), kind: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 12 }) }),
  fc.record({ f: fc.constantFrom(22, 23), kind: fc.constant('double' as const), v: fc.double() }),
  fc.record({ f: fc.constantFrom(24), kind: fc.constant('float' as const), v: fc.float() }),
);
const metricField: fc.Arbitrary<Field> = fc.oneof(
  fc.record({ f: fc.constant(1), kind: fc.constant('string' as const), v: fc.string({ maxLength: 12, unit: 'binary' }) }),
  fc.record({ f: fc.constantFrom(2, 3, 11), kind: fc.constant('u64' as const), v: u64 }),
  fc.record({ f: fc.constant(4), kind: fc.constant('u32' as const), v: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 4294967295) }),
  fc.record({ f: fc.constant(10), kind: fc.constant('u64' as const), v: u64 }),
  fc.record({ f: fc.constantFrom(7, 14), kind: fc.constant('u64' as const), v: fc.constantFrom(0n, 1n, 2n ** 32n, 2n ** 32n + 1n) }),
  fc.record({ f: fc.constant(12), kind: fc.constant('float' as const), v: fc.float() }),
  fc.record({ f: fc.constant(13), kind: fc.constant('double' as const), v: fc.double() }),
  fc.record({ f: fc.constant(15), kind: fc.constant('string' as const), v: fc.string({ maxLength: 12, unit: 'binary' }) }),
  fc.record({ f: fc.constant(16), kind: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 12 }) }),
  unknownField,
);

function write(w: protobuf.Writer, x: Field): void {
  const wire = { u64: 0, u32: 0, bool: 0, float: 5, double: 1, string: 2, bytes: 2 }[x.kind];
  w.uint32((x.f << 3) | wire);
  if (x.kind === 'u64') w.uint64((x.v as bigint).toString());
  else if (x.kind === 'u32') w.uint32(x.v as number);
  else if (x.kind === 'float') w.float(x.v as number);
  else if (x.kind === 'double') w.double(x.v as number);
  else if (x.kind === 'string') w.string(x.v as string);
  else w.bytes(x.v as Uint8Array);
}

const payloadBytes = fc
  .record({
    top: fc.array(
      fc.oneof(
        fc.record({ f: fc.constantFrom(1, 3), kind: fc.constant('u64' as const), v: u64 }),
        fc.record({ f: fc.constant(4), kind: fc.constant('string' as const), v: fc.string({ maxLength: 8 }) }),
        unknownField,
      ),
      { maxLength: 4 },
    ),
    metrics: fc.array(fc.array(metricField, { maxLength: 8 }), { maxLength: 6 }),
  })
  .map(({ top, metrics }) => {
    const w = protobuf.Writer.create();
    for (const x of top) write(w, x);
    for (const m of metrics) {
      w.uint32((2 << 3) | 2).fork();
      for (const x of m) write(w, x);
      w.ldelim();
    }
    return w.finish();
  });

/**
 * Both read the same, or both throw (truncated bytes; a DateTime out of Date's range, which the
 * worker then counts as a bad payload either way). toEqual takes NaN as equal to NaN.
 */
function agree(bytes: Uint8Array): 'read' | 'threw' {
  let ref: SpPayload | Error;
  try {
    ref = reference(bytes);
  } catch (e) {
    ref = e as Error;
  }
  // The host's seq scan on the same reader never throws, and finds a seq exactly where there is one.
  const seq = scanSeq(bytes);
  if (ref instanceof Error) {
    expect(() => decodePayload(bytes)).toThrow();
    return 'threw';
  }
  expect(decodePayload(bytes)).toEqual(ref);
  expect(seq === undefined).toBe(ref.seq === undefined);
  return 'read';
}

describe('Sparkplug B payload reader (property)', () => {
  it('reads what protobufjs reads, field for field', () => {
    const seen = { read: 0, threw: 0 };
    fc.assert(
      fc.property(payloadBytes, (bytes) => {
        seen[agree(bytes)]++;
      }),
      { numRuns: 2000 },
    );
    expect(seen.read).toBeGreaterThan(1500);
  });

  it('throws where protobufjs throws on truncated bytes, and reads the same where it does not', () => {
    const seen = { read: 0, threw: 0 };
    fc.assert(
      fc.property(payloadBytes, fc.nat(), (bytes, cut) => {
        seen[agree(bytes.subarray(0, bytes.length === 0 ? 0 : cut % bytes.length))]++;
      }),
      { numRuns: 2000 },
    );
    expect(seen.threw).toBeGreaterThan(50);
    expect(seen.read).toBeGreaterThan(50);
  });

  it('reads a payload as an edge node sends it (Eclipse Tahu-style encoder)', () => {
    const p = decodePayload(
      payload()
        .encode({
          timestamp: 1_700_000_000_000,
          seq: 7,
          metrics: [
            { name: 'Temperature', alias: 1, datatype: DataType.Double, double_value: 20.5 },
            { alias: 2, datatype: DataType.Int16, int_value: 0xfffb },
            { alias: 3, datatype: DataType.UInt64, long_value: '18446744073709551615' },
            { alias: 4, datatype: DataType.String, string_value: 'auto' },
            { alias: 5, datatype: DataType.Boolean, boolean_value: true },
            { alias: 6, datatype: DataType.Double, is_null: true },
          ],
        })
        .finish(),
    );
    expect(p.timestamp).toBe(1_700_000_000_000);
    expect(p.seq).toBe(7);
    expect(
      scanSeq(
        payload()
          .encode({ timestamp: 1, seq: 200, metrics: [{ name: 'a', double_value: 1 }] })
          .finish(),
      ),
    ).toBe(200);
    expect(p.metrics.map((m) => [m.name, m.alias, m.value, m.text, m.isNull, m.unsupported])).toEqual([
      ['Temperature', 1, 20.5, '', false, false],
      [undefined, 2, -5, '', false, false],
      [undefined, 3, 2 ** 64, '18446744073709551615', false, false],
      [undefined, 4, Number.NaN, 'auto', false, false],
      [undefined, 5, 1, '', false, false],
      [undefined, 6, Number.NaN, '', true, false],
    ]);
  });
});
