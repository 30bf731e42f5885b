/**
 * Property-based tests (fast-check) over the topic-template matcher, the ACL
 * matcher and every payload decoder: random and adversarial inputs never throw,
 * never lose a record, and agree with simple reference definitions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers, filtersOverlap, topicMatches } from '../../src/broker/acl.js';
import { ChunkDecoder } from '../../src/encode/decode.js';
import { compileTemplate, matchTemplate } from '../../src/encode/topics.js';
import { BYTE_ORDERS, decodeRegisters, type RegisterType } from '../../src/sources/modbus/decode.js';
import { parseNodeId } from '../../src/sources/opcua/nodeid.js';
import { toRowValue } from '../../src/sources/opcua/values.js';
import { TEST_MQTT, mqttChunk, readPoints } from '../helpers/frames.js';

const RUNS = { numRuns: 500 };
const level = fc.oneof(
  fc.constantFrom('a', 'b', 'plant', '', '$SYS', '__proto__', 'constructor', 'é', '+', '#'),
  fc.string({ maxLength: 6 }).filter((s) => !s.includes('/')),
);
const topicLevel = level.filter((l) => l !== '+' && l !== '#');
const topic = fc.array(topicLevel, { minLength: 1, maxLength: 6 }).map((l) => l.join('/'));
const filter = fc
  .array(fc.oneof(topicLevel, fc.constant('+')), { minLength: 1, maxLength: 5 })
  .chain((l) => fc.boolean().map((hash) => (hash ? [...l, '#'] : l).join('/')));

describe('topic templates (property)', () => {
  it('never throw; a match captures levels that rebuild the topic', () => {
    const template = fc
      .array(fc.oneof(topicLevel, fc.constant('+'), fc.constant('{d}'), fc.constant('{t}')), { minLength: 1, maxLength: 5 })
      .chain((l) => fc.constantFrom('', '/{rest+}', '/#').map((tail) => l.join('/') + tail));
    fc.assert(
      fc.property(template, topic, (t, tp) => {
        const c = compileTemplate(t);
        if (c.error) return;
        const caps: Record<string, string> = {};
        const hit = matchTemplate(c, tp, caps);
        if (!hit) return;
        // Every capture is a non-empty level (or levels for {x+}) of the topic.
        for (const v of Object.values(caps)) if (v) expect(tp.includes(v)).toBe(true);
        // A template is a filter: where it matches, the equivalent MQTT filter matches too.
        const asFilter = t.replace(/\{[a-z]+\+\}/g, '#').replace(/\{[a-z]+\}/g, '+');
        expect(topicMatches(asFilter, tp)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('ACL matching (property)', () => {
  /** The reference: MQTT filter semantics written the slow way. */
  const ref = (f: string, t: string): boolean => {
    if (t.startsWith('$') && /^[+#]/.test(f)) return false;
    const re = new RegExp(
      `^${f
        .split('/')
        .map((l, i) => (l === '#' ? (i === 0 ? '.*' : '(?:/.*)?') : (i ? '/' : '') + (l === '+' ? '[^/]*' : l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))))
        .join('')}$`,
      's',
    );
    return re.test(t);
  };
  it('topicMatches agrees with the reference', () => {
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        expect(topicMatches(f, t)).toBe(ref(f, t));
      }),
      RUNS,
    );
  });
  it('covers implies overlap, and a covered filter matches nothing its cover does not', () => {
    fc.assert(
      fc.property(filter, filter, topic, (a, b, t) => {
        if (covers(a, b)) {
          expect(filtersOverlap(a, b)).toBe(true);
          if (!t.startsWith('$') && topicMatches(b, t)) expect(topicMatches(a, t)).toBe(true);
        }
        if (!t.startsWith('$') && topicMatches(a, t) && topicMatches(b, t)) expect(filtersOverlap(a, b)).toBe(true);
      }),
      RUNS,
    );
  });
});

const cfg = TEST_MQTT;

const jsonish = fc.oneof(
  fc.json(),
  fc.string(),
  fc.constantFrom(
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{"y":2}}}',
    '[1,2,3]',
    '{"a":' + '['.repeat(500) + ']'.repeat(500) + '}',
    '1e999',
    '-0',
    'NaN',
    '9223372036854775808',
    '{"ts":"2026-13-45T99:99:99Z","value":1}',
    '\u0000',
    '{"a":1,"a":2}',
  ),
);

describe('payload decoders (property)', () => {
  it('every record becomes rows or a counted reject, never an exception', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            route: fc.constantFrom('plant/p1/t', 'json/p1', 'raw/p1/t', 'other/x'),
            body: fc.oneof(
              jsonish,
              fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
            ),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (msgs) => {
          const r = new ChunkDecoder(cfg).decode(mqttChunk(msgs.map((m) => ({ topic: m.route, body: m.body }))));
          expect(r.records).toBe(msgs.length);
          const rows = r.tables[0] ? readPoints(r.tables[0].data) : [];
          const rejected = Object.values(r.rejects).reduce((a, b) => a + (b ?? 0), 0);
          // Nothing vanishes: a message yields rows, or is counted as rejected/unmatched (an empty JSON object may yield neither).
          expect(rows.length + rejected).toBeGreaterThanOrEqual(msgs.filter((m) => m.route !== 'json/p1').length);
          expect(({} as Record<string, unknown>).x).toBeUndefined();
          expect(({} as Record<string, unknown>).y).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('Modbus registers: every type and byte order decodes any bytes without throwing; 16-bit values round-trip', () => {
    const types: RegisterType[] = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64'];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.constantFrom(...types), fc.constantFrom(...BYTE_ORDERS), (bytes, type, order) => {
        const d = decodeRegisters(Buffer.from(bytes), 0, { type, order, scale: 1, offset: 0 });
        expect(typeof d.value).toBe('number');
        // Orders that swap no bytes within a word read a 16-bit value as it stands.
        const plain = ['ABCD', 'CDAB', 'ABCDEFGH', 'GHEFCDAB'].includes(order);
        if (plain && type === 'uint16') expect(d.value).toBe(Buffer.from(bytes).readUInt16BE(0));
        if (plain && type === 'int16') expect(d.value).toBe(Buffer.from(bytes).readInt16BE(0));
        if (!plain && type === 'uint16') expect(d.value).toBe(Buffer.from(bytes).readUInt16LE(0));
        if (type === 'uint64' || type === 'int64') expect(BigInt(d.text)).toBeTypeOf('bigint');
      }),
      RUNS,
    );
  });

  it('OPC UA values and node ids: any input maps to a value/text pair or a clear error', () => {
    const types = [
      'Boolean',
      'SByte',
      'Byte',
      'Int16',
      'UInt16',
      'Int32',
      'UInt32',
      'Int64',
      'UInt64',
      'Float',
      'Double',
      'String',
      'DateTime',
      'ByteString',
      'LocalizedText',
      'QualifiedName',
      'Guid',
      'NodeId',
      'Null',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.anything(), (t, v) => {
        const r = toRowValue(t, v);
        expect(typeof r.value).toBe('number');
        expect(typeof r.text).toBe('string');
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const r = parseNodeId(s);
        expect(typeof r === 'string' ? r.length > 0 : typeof r.id === 'string').toBe(true);
      }),
      RUNS,
    );
  });
});
