import { describe, expect, it } from 'vitest';
import { parseBrowsePath, parseNodeId, resolveNodeId, stableNodeId } from '../../../src/sources/opcua/nodeid.js';
import { chunks, effectiveLimits, monitorCalls, pollGroups, subscriptionTiming, watchdogMs, CALL_CEILING } from '../../../src/sources/opcua/plan.js';
import { deadbandWidth, expand, passes, toRowValue } from '../../../src/sources/opcua/values.js';
import { describeFailure, filterRefused, Status } from '../../../src/sources/opcua/status.js';
import { Quality } from '../../../src/core/quality.js';

describe('node ids', () => {
  it.each([
    ['ns=3;s=Line3.Oven.Temp', { ns: 3, id: 's=Line3.Oven.Temp' }],
    ['nsu=urn:plant:line3;i=1001', { nsu: 'urn:plant:line3', id: 'i=1001' }],
    ['i=2258', { id: 'i=2258' }],
    ['ns=2;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63', { ns: 2, id: 'g=72962B91-FA75-4AE6-8D28-B404DC7DAF63' }],
    ['ns=1;b=AAEC', { ns: 1, id: 'b=AAEC' }],
    ['ns=1;s=a;b=c', { ns: 1, id: 's=a;b=c' }],
  ])('parses %s', (text, want) => {
    expect(parseNodeId(text)).toEqual(want);
  });

  it.each([
    ['ns=x;i=1', 'namespace index "x"'],
    ['ns=70000;i=1', 'namespace index "70000"'],
    ['nsu=;i=1', 'empty namespace URI'],
    ['Line3.Temp', 'expected ns='],
    ['ns=2;i=abc', 'expected ns='],
    ['i=4294967296', 'past 4294967295'],
  ])('refuses %s', (text, msg) => {
    expect(parseNodeId(text)).toContain(msg);
  });

  it('resolves namespace URIs against the server and writes stable ids back', () => {
    const nsArray = ['http://opcfoundation.org/UA/', 'urn:server', 'urn:plant:line3'];
    expect(resolveNodeId({ nsu: 'urn:plant:line3', id: 'i=7' }, nsArray)).toBe('ns=2;i=7');
    expect(resolveNodeId({ nsu: 'urn:missing', id: 'i=7' }, nsArray)).toBeUndefined();
    expect(resolveNodeId({ ns: 0, id: 'i=85' }, nsArray)).toBe('i=85');
    expect(stableNodeId('ns=2;s=X', nsArray)).toBe('nsu=urn:plant:line3;s=X');
    expect(stableNodeId('i=85', nsArray)).toBe('i=85');
  });

  it('parses browse paths', () => {
    expect(parseBrowsePath('/Objects/2:Line3/Press')).toEqual([{ name: 'Objects' }, { ns: 2, name: 'Line3' }, { name: 'Press' }]);
    expect(parseBrowsePath('Objects/Line3')).toContain('from the root folder');
    expect(parseBrowsePath('/Objects//Line3')).toContain('empty');
  });
});

describe('request planning', () => {
  it('takes configured limits over the server, the ceiling over none', () => {
    expect(
      effectiveLimits({ maxNodesPerRead: 50, maxMonitoredItemsPerCall: 0, maxNodesPerBrowse: 0 }, { maxNodesPerRead: 0, maxMonitoredItemsPerCall: 20 }),
    ).toEqual({ maxNodesPerRead: 50, maxMonitoredItemsPerCall: 20, maxNodesPerBrowse: CALL_CEILING });
    expect(effectiveLimits({ maxNodesPerRead: 100_000, maxMonitoredItemsPerCall: 0, maxNodesPerBrowse: 0 }, {}).maxNodesPerRead).toBe(CALL_CEILING);
  });

  it('groups monitored items by parameters and cuts calls to the limit', () => {
    const items = Array.from({ length: 12 }, (_, i) => ({ i, params: { samplingMs: i % 3 === 0 ? 100 : 1000, queueSize: 10 } }));
    const calls = monitorCalls(items, 5);
    expect(calls.map((c) => c.items.length)).toEqual([4, 5, 3]);
    expect(calls.every((c) => c.items.every((x) => x.params.samplingMs === c.params.samplingMs))).toBe(true);
    expect(calls.flatMap((c) => c.items.map((x) => x.i)).sort((a, b) => a - b)).toEqual(items.map((x) => x.i));
    expect(
      monitorCalls([{ params: { samplingMs: 1, queueSize: 1, deadband: { type: 'absolute', value: 1 } } }, { params: { samplingMs: 1, queueSize: 1 } }], 10),
    ).toHaveLength(2);
  });

  it('groups polled nodes by interval and cuts reads', () => {
    const g = pollGroups([{ intervalMs: 1000 }, { intervalMs: 500 }, { intervalMs: 1000 }, { intervalMs: 1000 }], 2);
    expect(g.map((x) => [x.intervalMs, x.reads.map((r) => r.length)])).toEqual([
      [500, [1]],
      [1000, [2, 1]],
    ]);
    expect(chunks([1, 2, 3], 0)).toEqual([[1], [2], [3]]);
  });

  it('keeps subscriptions within the spec and notices silence within three keep-alives', () => {
    const t = subscriptionTiming(1000);
    expect(t).toEqual({ keepAliveCount: 2, lifetimeCount: 12 });
    expect(t.lifetimeCount).toBeGreaterThanOrEqual(3 * t.keepAliveCount);
    expect(subscriptionTiming(100).keepAliveCount).toBe(20);
    expect(watchdogMs(1000, 2)).toBe(7000);
    expect(watchdogMs(100, 1)).toBe(5000);
  });
});

describe('values', () => {
  it('maps variant types to value and text', () => {
    expect(toRowValue('Double', 1.5)).toEqual({ value: 1.5, text: '' });
    expect(toRowValue('Boolean', true)).toEqual({ value: 1, text: '' });
    expect(toRowValue('Int64', [0xffffffff, 0xffffffff])).toEqual({ value: -1, text: '-1' });
    expect(toRowValue('UInt64', [0xffffffff, 0xffffffff])).toEqual({ value: 2 ** 64, text: '18446744073709551615' });
    expect(toRowValue('Int64', [0x7fffffff, 0xffffffff]).text).toBe('9223372036854775807');
    expect(toRowValue('String', 'run')).toEqual({ value: Number.NaN, text: 'run' });
    expect(toRowValue('LocalizedText', { text: 'Auto', locale: 'en' }).text).toBe('Auto');
    expect(toRowValue('DateTime', new Date(1000))).toEqual({ value: 1000, text: '1970-01-01T00:00:01.000Z' });
    expect(toRowValue('ByteString', Buffer.from([1, 2]))).toEqual({ value: Number.NaN, text: 'AQI=' });
    expect(toRowValue('Double', null)).toEqual({ value: Number.NaN, text: '' });
  });

  it('expands arrays to one row per element', () => {
    const out: Array<{ tag: string; value: number; text: string }> = [];
    expand('v', 'Int32', true, Int32Array.from([4, 5]), out);
    expand('s', 'Float', false, 2, out);
    expect(out).toEqual([
      { tag: 'v[0]', value: 4, text: '' },
      { tag: 'v[1]', value: 5, text: '' },
      { tag: 's', value: 2, text: '' },
    ]);
  });

  it('applies absolute and percent deadbands as Part 4 defines them', () => {
    expect(deadbandWidth({ type: 'absolute', value: 0.5 })).toBe(0.5);
    expect(deadbandWidth({ type: 'percent', value: 10 }, { low: 0, high: 200 })).toBe(20);
    expect(deadbandWidth({ type: 'percent', value: 10 })).toBeUndefined();
    const v = (value: number) => ({ value, text: '' });
    expect(passes(0.5, v(1), v(1.5))).toBe(false);
    expect(passes(0.5, v(1), v(1.51))).toBe(true);
    expect(passes(0, v(1), v(1))).toBe(false);
    expect(passes(0, v(1), v(1.0001))).toBe(true);
    expect(passes(10, v(Number.NaN), v(1))).toBe(true);
    expect(passes(10, undefined, v(1))).toBe(true);
  });
});

describe('status codes', () => {
  it('match node-opcua and describe failures', async () => {
    const { StatusCodes } = await import('node-opcua');
    for (const [name, value] of Object.entries(Status))
      expect((StatusCodes[name as keyof typeof StatusCodes] as unknown as { value: number }).value >>> 0, name).toBe(value);
    // The qualities every source writes are OPC UA's own codes.
    for (const [name, value] of Object.entries(Quality))
      if (name.startsWith('Bad') && name !== 'Bad')
        expect((StatusCodes[name as keyof typeof StatusCodes] as unknown as { value: number }).value >>> 0, name).toBe(value);
    expect([StatusCodes.Good.value, StatusCodes.Bad.value >>> 0, StatusCodes.Uncertain.value >>> 0]).toEqual([Quality.Good, Quality.Bad, Quality.Uncertain]);
    expect(filterRefused(Status.BadFilterNotAllowed)).toBe(true);
    expect(filterRefused(0x80340000)).toBe(false); // BadNodeIdUnknown
    expect(describeFailure(new Error('server Certificate verification failed with err BadCertificateUntrusted (0x801a0000)'))).toEqual({
      reason: 'the server certificate is not trusted',
      untrusted: true,
    });
    expect(describeFailure(new Error('BadUserAccessDenied (0x801f0000)')).reason).toContain('refused the user identity');
  });
});

describe('values from misbehaving servers', () => {
  it('never throw on objects whose toString is broken (found by the property test)', () => {
    expect(toRowValue('Guid', [{ toString: {} }])).toEqual({ value: Number.NaN, text: '[{"toString":{}}]' });
    expect(toRowValue('LocalizedText', { text: { toString: 1 } }).text).toBe('{"toString":1}');
  });
});
