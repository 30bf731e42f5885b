import { describe, expect, it } from 'vitest';
import { RecentLogs, textLine } from '../../src/telemetry/logger.js';

describe('readable log lines', () => {
  it('prints time, level, message and the fields, quoting what has spaces', () => {
    const line = JSON.stringify({
      level: 40,
      time: '2026-12-01T10:00:01.005Z',
      service: 'fieldgate',
      device: 'cnc4',
      err: 'connect ECONNREFUSED 127.0.0.1:1502',
      retry_ms: 270,
      limits: { a: 1 },
      msg: 'modbus: cannot connect; retrying with backoff',
    });
    const d = new Date('2026-12-01T10:00:01.005Z');
    const p = (n: number) => String(n).padStart(2, '0');
    expect(textLine(line)).toBe(
      `${p(d.getHours())}:${p(d.getMinutes())}:01.005 WARN  modbus: cannot connect; retrying with backoff  device=cnc4 err="connect ECONNREFUSED 127.0.0.1:1502" retry_ms=270 limits={"a":1}\n`,
    );
    expect(textLine('not json\n')).toBe('not json\n');
    expect(textLine(JSON.stringify({ level: 50, time: 0, msg: 'x' }), true)).toContain('\x1b[31mERROR\x1b[0m');
  });

  it('keeps the last warnings and errors, newest first, and counts all', () => {
    const r = new RecentLogs(2);
    for (const m of ['a', 'b', 'c']) r.push({ time: '', level: 'warn', msg: m, fields: {} });
    expect(r.list().map((e) => e.msg)).toEqual(['c', 'b']);
    expect(r.total).toBe(3);
  });
});
