import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

const DDL =
  "CREATE TABLE IF NOT EXISTS fieldgate.machine_status (line LowCardinality(String), machine String, i8 Int8, i16 Int16, i32 Int32, i64 Int64, u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, f32 Float32, f64 Float64, ok Bool, at DateTime('UTC'), at64 DateTime64(3, 'UTC'), note Nullable(String), n32 Nullable(Int32), state Enum8('idle' = 0, 'run' = 1, 'fault' = 2), wide Enum16('a' = 1000, 'b' = -1000), received DateTime64(3, 'UTC'), site String, extra String DEFAULT 'kept') ENGINE = MergeTree ORDER BY (line, machine)";
/** Adds the custom-table route to a test gateway's config, and `init_sql` to its clickhouse line. */
function withCustomTable(g: TestGateway, ddl: string, columns: string[]): void {
  const route = `    - topic: "lines/{line}/{machine}/status"\n      format: json\n      table: machine_status\n      columns:\n${columns.map((c) => `        - ${c}`).join('\n')}`;
  const text = readFileSync(g.config, 'utf8')
    .replace(/^clickhouse: \{ (.*) \}$/m, (_m, inner: string) => `clickhouse: { ${inner}, init_sql: [ ${JSON.stringify(ddl)} ] }`)
    .replace('    - { topic: "json/{device}", format: json }', `    - { topic: "json/{device}", format: json }\n${route}`);
  writeFileSync(g.config, text);
}

/** The first dead letter written, once there is one. */
async function firstDeadLetter(g: TestGateway): Promise<{ table: string; reason: string; topic: string }> {
  const dir = join(g.stateDir, 'deadletter');
  await waitFor('the dead letter', () => readdirSync(dir).some((f) => f.endsWith('.jsonl')), 10_000, 100);
  const text = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
  return JSON.parse(text.trim().split('\n')[0]) as { table: string; reason: string; topic: string };
}

const COLS = ['i8', 'i16', 'i32', 'i64', 'u8', 'u16', 'u32', 'u64', 'f32', 'f64', 'ok', 'at', 'at64', 'note', 'n32', 'state', 'wide'];

describe('custom tables', () => {
  it('fills a user table with every supported column type, exactly; a value that does not fit is dead-lettered with the reason', async () => {
    const g = await TestGateway.create();
    const columns = [
      '{ name: line, topic: line }',
      '{ name: machine, topic: machine }',
      ...COLS.map((c) => `{ name: ${c}, json: v.${c} }`),
      '{ name: received, received: true }',
      '{ name: site, const: plant-a }',
    ];
    withCustomTable(g, DDL, columns);
    cleanups.push(() => g.stop());
    await g.start();

    const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { reconnectPeriod: 0 });
    cleanups.push(() => c.endAsync(true));
    const v = {
      i8: -128,
      i16: -32768,
      i32: -2147483648,
      i64: '-9223372036854775808',
      u8: 255,
      u16: 65535,
      u32: 4294967295,
      u64: '18446744073709551615',
      f32: 1.5,
      f64: 0.1,
      ok: true,
      at: '2026-11-27T10:00:00Z',
      at64: Date.parse('2026-11-27T00:00:00.123Z'),
      note: null,
      n32: 7,
      state: 'fault',
      wide: 'b',
    };
    await c.publishAsync('lines/L3/press1/status', JSON.stringify({ v }), { qos: 1 });
    // A value that does not fit its column: dead-lettered with the reason; the table gets nothing from it.
    await c.publishAsync('lines/L3/press2/status', JSON.stringify({ v: { ...v, i8: 300 } }), { qos: 1 });
    await waitFor('the row', async () => (await g.query('SELECT count() FROM fieldgate.machine_status')) === '1', 30_000, 100);
    const row = await g.query(
      `SELECT line, machine, ${COLS.map((x) => `toString(${x})`).join(', ')}, site, extra, received > now64() - 60 FROM fieldgate.machine_status`,
    );
    expect(row.split('\t')).toEqual([
      'L3',
      'press1',
      '-128',
      '-32768',
      '-2147483648',
      '-9223372036854775808',
      '255',
      '65535',
      '4294967295',
      '18446744073709551615',
      '1.5',
      '0.1',
      'true',
      '2026-11-27 10:00:00',
      '2026-11-27 00:00:00.123',
      '\\N',
      '7',
      'fault',
      'b',
      'plant-a',
      'kept',
      '1',
    ]);
    const letter = await firstDeadLetter(g);
    expect(letter).toMatchObject({ table: 'machine_status', topic: 'lines/L3/press2/status', reason: 'column i8: 300 is out of range for Int8' });
    expect(await g.metric('fieldgate_records_rejected_total{reason="column"}')).toBe(1);
  });

  it("does the same through Debian's clickhouse-server 18.16 over HTTP, with the types it has", async () => {
    const database = `fg_custom_${Date.now()}`;
    const g = await TestGateway.create({ clickhouse: { url: inject('clickhouseUrl'), database } });
    const cols = ['i8', 'i64', 'u64', 'f32', 'f64', 'ok', 'at', 'note', 'state'];
    const ddl = `CREATE TABLE IF NOT EXISTS ${database}.machine_status (line String, machine String, i8 Int8, i64 Int64, u64 UInt64, f32 Float32, f64 Float64, ok UInt8, at DateTime, note Nullable(String), state Enum8('idle' = 0, 'run' = 1, 'fault' = 2), site String DEFAULT 'kept') ENGINE = MergeTree ORDER BY (line, machine)`;
    const columns = ['{ name: line, topic: line }', '{ name: machine, topic: machine }', ...cols.map((c) => `{ name: ${c}, json: v.${c} }`)];
    withCustomTable(g, ddl, columns);
    cleanups.push(() => g.stop());
    await g.start();
    const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { reconnectPeriod: 0 });
    cleanups.push(() => c.endAsync(true));
    await c.publishAsync(
      'lines/L3/press1/status',
      JSON.stringify({
        v: {
          i8: -128,
          i64: '-9223372036854775808',
          u64: '18446744073709551615',
          f32: 1.5,
          f64: 0.1,
          ok: true,
          at: 1795776000000,
          note: 'oil low',
          state: 'run',
        },
      }),
      { qos: 1 },
    );
    await c.publishAsync(
      'lines/L3/press2/status',
      JSON.stringify({ v: { i8: 1, i64: 1, u64: 1, f32: 1, f64: 1, ok: 2, at: 1, note: null, state: 'broken' } }),
      { qos: 1 },
    );
    await waitFor('the row', async () => (await g.query(`SELECT count() FROM ${database}.machine_status`)) === '1', 30_000, 100);
    const row = await g.query(`SELECT line, machine, i8, i64, u64, f32, f64, ok, toUnixTimestamp(at), note, state, site FROM ${database}.machine_status`);
    expect(row.split('\t')).toEqual([
      'L3',
      'press1',
      '-128',
      '-9223372036854775808',
      '18446744073709551615',
      '1.5',
      '0.1',
      '1',
      '1795776000',
      'oil low',
      'run',
      'kept',
    ]);
    const letter = await firstDeadLetter(g);
    // ok: 2 fits a UInt8 (18.16 has no Bool); the enum name does not.
    expect(letter.reason).toBe(`column state: "broken" is not one of the enum's names (idle, run, fault)`);
  });
});
