/**
 * The JSON points scanner against JSON.parse, its oracle: whatever it accepts, JSON.parse reads
 * to the same points field by field (the decoder then takes one code path for both), and what it
 * gives up on still decodes through JSON.parse. Random payloads of the batched shape, mutated
 * a byte at a time, and the edge cases of JSON's number and string grammar.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { markBigIntegers } from '../../src/encode/decode.js';
import { POINT_KEYS, PointFields, scanJsonPoints } from '../../src/encode/json-points.js';

/** What the general path reads from a payload the scanner accepted: the same fields, or a reason it would not. */
type Fields = { tag: unknown; value: unknown; ts: unknown; quality: unknown; text: unknown };

function oracle(text: string): Fields[] | string {
  if (markBigIntegers(text) !== text) return 'has an integer of 16+ digits';
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const items = Array.isArray(v) ? v : [v];
  const out = [];
  for (const o of items) {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return 'not an object';
    const r = o as Record<string, unknown>;
    if (!('value' in r) || Object.keys(r).some((k) => !POINT_KEYS.has(k))) return 'not a point object';
    out.push({ tag: r.tag, value: r.value, ts: r.ts, quality: r.quality, text: r.text });
  }
  return out;
}

function scanned(text: string): Fields[] | undefined {
  const f = new PointFields();
  if (!scanJsonPoints(text, f)) return undefined;
  return Array.from({ length: f.n }, (_, k) => ({ tag: f.tag[k], value: f.value[k], ts: f.ts[k], quality: f.quality[k], text: f.text[k] }));
}

/** Accepted means: JSON.parse reads exactly these points (Object.is on each field: -0 and NaN count). */
function agrees(text: string): boolean {
  const s = scanned(text);
  if (s === undefined) return false;
  const o = oracle(text);
  if (typeof o === 'string') throw new Error(`${JSON.stringify(text)}: the scanner accepted what the general path reads as ${o}`);
  expect(o.length).toBe(s.length);
  o.forEach((p, k) => {
    for (const f of ['tag', 'value', 'ts', 'quality', 'text'] as const)
      expect(Object.is(p[f], s[k][f]), `${JSON.stringify(text)} point ${k} ${f}: ${String(p[f])} vs ${String(s[k][f])}`).toBe(true);
  });
  return true;
}

const numberText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.integer().map(String),
  fc.constantFrom('0', '-0', '0.1', '1e22', '1e23', '1E-7', '123456789012345', '1234567890123456', '12345678901234567890', '0.30000000000000004'),
  fc.constantFrom('9007199254740993', '1.7976931348623157e308', '1e400', '-1e-400', '5e-324', '0.000001234', '100.000', '2.5e+3', '1.0e0'),
  fc.constantFrom('01', '1.', '.5', '-', '+1', '1e', '1e+', '0x10', 'NaN', 'Infinity', '1_0'),
);
const scalarText = fc.oneof(
  numberText,
  fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('true', 'false', 'null', '"good"', '"Bad"', '"2026-12-02T10:00:00Z"', '"a\\"b"', '"\\u00e9"', '"é"', '"\t"', 'tru', 'nul'),
  fc.constantFrom('[]', '{}', '[1]', '{"a":1}'),
);
const keyText = fc.oneof(
  fc.constantFrom('tag', 'value', 'ts', 'quality', 'text', 'id', 'gateway', 'device', 'from', 'to'),
  fc.constantFrom('Value', 'val', 'tags', '__proto__', 'valu\\u0065', ''),
);
const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ', '\u00a0', '\f');
const objectText = fc
  .array(fc.tuple(keyText, scalarText, ws, ws), { maxLength: 6 })
  .map((pairs) => `{${pairs.map(([k, v, a, b]) => `${a}"${k}"${b}:${a}${v}${b}`).join(',')}}`);
const payload = fc.oneof(
  objectText,
  fc.array(fc.tuple(objectText, ws), { maxLength: 6 }).map((items) => `[${items.map(([o, w]) => w + o + w).join(',')}]`),
  // Mostly-valid points, so that most runs are accepted and compared.
  fc
    .array(fc.tuple(fc.string({ maxLength: 5 }), numberText), { minLength: 1, maxLength: 5 })
    .map((ps) => JSON.stringify(ps.map(([tag]) => ({ tag, value: 0 }))).replace(/"value":0/g, () => `"value":${ps[0][1]}`)),
);

describe('JSON points scanner', () => {
  it('accepts the batched shape and reads it as JSON.parse does', () => {
    expect(agrees('[{"tag":"t0","value":0},{"tag":"t1","value":1.5},{"tag":"t2","value":-3e-2,"ts":1700000000123,"quality":"bad"}]')).toBe(true);
    expect(agrees('{"value":12.5}')).toBe(true);
    expect(agrees(' [ { "tag" : "a" , "value" : true , "text" : "x" , "id" : 7 } ] \n')).toBe(true);
    expect(agrees('[{"value":null,"text":"door open","tag":"s"}]')).toBe(true);
    expect(agrees('{"value":1,"value":2}')).toBe(true); // the last key wins, as in JSON.parse
    expect(scanned('{"value":1,"value":2}')![0].value).toBe(2);
    expect(Object.is(scanned('{"value":-0}')![0].value, -0)).toBe(true);
    expect(scanned('{"value":0.1}')![0].value).toBe(0.1);
    expect(scanned('{"value":123456789012345}')![0].value).toBe(123456789012345);
    expect(scanned('{"value":1e400}')![0].value).toBe(Infinity);
  });

  it('gives up on what only the general path reads right', () => {
    for (const t of [
      '[]',
      '{}',
      '[{"tag":"a"}]', // no value: not a point object
      '{"value":1,"unit":"C"}', // a key a point does not have
      '{"value":"a\\"b"}', // an escape
      '{"valu\\u0065":1}',
      '{"value":1234567890123456}', // 16 digits: the exact text is kept
      '{"value":[1]}',
      '{"value":{"a":1}}',
      '[{"value":1},]',
      '{"value":01}',
      '{"value":1.}',
      '{"value":.5}',
      '{"value":+1}',
      '{"value":1}x',
      '\u00a0{"value":1}',
      '{"value":"\t"}',
      '[{"value":1}',
      '{"value":1',
      '{"value":tru}',
    ])
      expect(scanned(t), t).toBeUndefined();
  });

  it('agrees with JSON.parse on random payloads (property)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(payload, (t) => {
        if (agrees(t)) accepted++;
      }),
      { numRuns: 3000 },
    );
    // The generator must reach the accepting path, or the property says nothing.
    expect(accepted).toBeGreaterThan(300);
  });

  it('agrees with JSON.parse on payloads mutated a byte at a time (property)', () => {
    const base = '[{"tag":"t0","value":1.5,"ts":1700000000000,"quality":0},{"tag":"é","value":null,"text":"on"}]';
    const chars = fc.constantFrom('"', '\\', ',', ':', '{', '}', '[', ']', '-', '.', 'e', '0', '9', ' ', 'x', '\u0000', 'é');
    fc.assert(
      fc.property(fc.nat(base.length - 1), chars, fc.constantFrom('replace', 'insert', 'delete'), (at, c, op) => {
        const t =
          op === 'replace'
            ? base.slice(0, at) + c + base.slice(at + 1)
            : op === 'insert'
              ? base.slice(0, at) + c + base.slice(at)
              : base.slice(0, at) + base.slice(at + 1);
        agrees(t);
      }),
      { numRuns: 3000 },
    );
  });
});
