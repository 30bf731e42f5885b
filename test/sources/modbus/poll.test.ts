import { afterAll, describe, expect, it } from 'vitest';
import { TestGateway } from '../../helpers/gateway.js';
import { ModbusServer, wireWords, type ModbusSpec } from '../../helpers/modbus.js';
import { sleep, waitFor } from '../../helpers/ports.js';

function be(write: (b: Buffer) => void, n: number): Buffer {
  const b = Buffer.alloc(n);
  write(b);
  return b;
}

/** Registers from a list of [address, words]. */
function regs(...parts: Array<[number, number[]]>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [a, ws] of parts) ws.forEach((w, i) => (out[a + i] = w));
  return out;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('Modbus TCP polling against a real server', () => {
  it('reads every type and byte order exactly, in the reads the planner chose', async () => {
    const spec: ModbusSpec = {
      holding: regs(
        [0, [0xff38]],
        [1, [65000]],
        [
          2,
          wireWords(
            be((b) => b.writeInt32BE(-123456789), 4),
            'ABCD',
          ),
        ],
        [
          4,
          wireWords(
            be((b) => b.writeUInt32BE(4000000000), 4),
            'CDAB',
          ),
        ],
        [
          6,
          wireWords(
            be((b) => b.writeFloatBE(123.456), 4),
            'BADC',
          ),
        ],
        [
          8,
          wireWords(
            be((b) => b.writeFloatBE(-0.5), 4),
            'DCBA',
          ),
        ],
        [
          10,
          wireWords(
            be((b) => b.writeBigInt64BE(-9007199254740993n), 8),
            'ABCDEFGH',
          ),
        ],
        [
          14,
          wireWords(
            be((b) => b.writeBigUInt64BE(18446744073709551615n), 8),
            'GHEFCDAB',
          ),
        ],
        [
          18,
          wireWords(
            be((b) => b.writeDoubleBE(1.5e300), 8),
            'BADCFEHG',
          ),
        ],
        [
          22,
          wireWords(
            be((b) => b.writeDoubleBE(-2.25), 8),
            'HGFEDCBA',
          ),
        ],
        [26, wireWords(Buffer.from('RECIPE-7'), 'ABCD')],
        [30, [0b1000]],
        [31, [1000]],
      ),
      input: regs([
        0,
        wireWords(
          be((b) => b.writeUInt32BE(123456), 4),
          'ABCD',
        ),
      ]),
      coils: { 3: true },
      discrete: { 5: true },
    };
    const server = await ModbusServer.create(spec);
    cleanups.push(() => server.stop());
    const g = await TestGateway.create({
      yaml: `modbus:
  devices:
    - name: plc1
      transport: { type: tcp, host: 127.0.0.1, port: ${server.port} }
      poll_interval: 200ms
      publish_unchanged_every: 1s
      tags:
        - { name: i16, table: holding, address: 0, type: int16 }
        - { name: u16, ref: 40002, type: uint16 }
        - { name: i32, table: holding, address: 2, type: int32, byte_order: ABCD }
        - { name: u32, table: holding, address: 4, type: uint32, byte_order: CDAB }
        - { name: f32, table: holding, address: 6, type: float32, byte_order: BADC }
        - { name: f32b, table: holding, address: 8, type: float32, byte_order: DCBA }
        - { name: i64, table: holding, address: 10, type: int64, byte_order: ABCDEFGH }
        - { name: u64, table: holding, address: 14, type: uint64, byte_order: GHEFCDAB }
        - { name: f64, table: holding, address: 18, type: float64, byte_order: BADCFEHG }
        - { name: f64b, table: holding, address: 22, type: float64, byte_order: HGFEDCBA }
        - { name: recipe, table: holding, address: 26, type: string, length: 8 }
        - { name: flag, table: holding, address: 30, type: bool, bit: 3 }
        - { name: scaled, table: holding, address: 31, type: uint16, scale: 0.1, offset: 5 }
        - { name: in32, ref: 30001, type: uint32 }
        - { name: running, table: coil, address: 3 }
        - { name: door, table: discrete, address: 5 }
`,
    });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('values from plc1', async () => (await g.query("SELECT uniqExact(tag) FROM fieldgate.points WHERE device = 'plc1'")) === '16', 30_000, 200);
    const rows = (
      await g.query(
        "SELECT tag, argMax(value, ts), argMax(text, ts), argMax(quality, ts) FROM fieldgate.points WHERE device = 'plc1' GROUP BY tag ORDER BY tag",
      )
    )
      .split('\n')
      .map((l) => l.split('\t'));
    const got = Object.fromEntries(rows.map(([tag, v, text, q]) => [tag, { v: Number(v), text, q: Number(q) }]));
    expect(got).toEqual({
      i16: { v: -200, text: '', q: 0 },
      u16: { v: 65000, text: '', q: 0 },
      i32: { v: -123456789, text: '', q: 0 },
      u32: { v: 4000000000, text: '', q: 0 },
      f32: { v: Math.fround(123.456), text: '', q: 0 },
      f32b: { v: -0.5, text: '', q: 0 },
      i64: { v: -9007199254740992, text: '-9007199254740993', q: 0 },
      u64: { v: 2 ** 64, text: '18446744073709551615', q: 0 },
      f64: { v: 1.5e300, text: '', q: 0 },
      f64b: { v: -2.25, text: '', q: 0 },
      recipe: { v: Number.NaN, text: 'RECIPE-7', q: 0 },
      flag: { v: 1, text: '', q: 0 },
      scaled: { v: 105, text: '', q: 0 },
      in32: { v: 123456, text: '', q: 0 },
      running: { v: 1, text: '', q: 0 },
      door: { v: 1, text: '', q: 0 },
    });
    // The planner's reads, as the server saw them: one holding read of 0..31, one input read of 0..1 per poll.
    await sleep(700);
    const stats = await server.stats();
    expect(stats.holding).toBeGreaterThan(2);
    expect(new Set(stats.reads.map((r) => r.join(':')))).toEqual(new Set(['holding:0:32', 'input:0:2']));
    expect(Math.abs(stats.holding - stats.input)).toBeLessThanOrEqual(1);
    const requests = await g.metric('fieldgate_modbus_requests_total{device="plc1"}');
    // 4 reads a poll (holding, input, coils, discrete inputs)
    expect(Math.abs(requests / 4 - stats.holding)).toBeLessThanOrEqual(1);
  });

  it('isolates an illegal address without losing its neighbours', async () => {
    const server = await ModbusServer.create({ holding: { 100: 1, 105: 2, 110: 3 }, illegal: [105] });
    cleanups.push(() => server.stop());
    const g = await TestGateway.create({
      yaml: `modbus:
  devices:
    - name: plc2
      transport: { type: tcp, host: 127.0.0.1, port: ${server.port} }
      poll_interval: 200ms
      tags:
        - { name: a, table: holding, address: 100 }
        - { name: bad, table: holding, address: 105 }
        - { name: c, table: holding, address: 110 }
`,
    });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('plc2 rows', async () => (await g.query("SELECT uniqExact(tag) FROM fieldgate.points WHERE device = 'plc2'")) === '3', 30_000, 200);
    await sleep(600);
    expect(await g.query("SELECT tag, argMax(value, ts), argMax(quality, ts) FROM fieldgate.points WHERE device = 'plc2' GROUP BY tag ORDER BY tag")).toBe(
      ['a\t1\t0', `bad\tnan\t${0x80340000}`, 'c\t3\t0'].join('\n'),
    );
    const reads = (await server.stats()).reads.map((r) => r.join(':'));
    // First the planned read, then the halves, then each alone; later polls keep the split reads.
    expect(reads.slice(0, 4)).toEqual(['holding:100:11', 'holding:100:6', 'holding:100:1', 'holding:105:1']);
    expect(reads.slice(-3).sort()).toEqual(['holding:100:1', 'holding:105:1', 'holding:110:1']);
    expect(await g.metric('fieldgate_modbus_errors_total{device="plc2",code="2"}')).toBeGreaterThan(1);
  });
});
