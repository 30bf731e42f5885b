import { afterAll, describe, expect, it } from 'vitest';
import { TestGateway } from '../../helpers/gateway.js';
import { ModbusServer } from '../../helpers/modbus.js';
import { freePort, sleep, waitFor } from '../../helpers/ports.js';
import { PROMISED_MODBUS_METRICS } from '../../../src/telemetry/metrics.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function intervals(g: TestGateway, device: string, since: number): Promise<number[]> {
  const ts = (
    await g.query(
      `SELECT toUnixTimestamp64Milli(ts) FROM fieldgate.points WHERE device = '${device}' AND tag = 'counter' AND quality = 0 AND ts >= fromUnixTimestamp64Milli(${since}) ORDER BY ts`,
    )
  )
    .split('\n')
    .filter(Boolean)
    .map(Number);
  return ts.slice(1).map((t, i) => t - ts[i]);
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))];
}

describe('Modbus: faulty devices are isolated', () => {
  it('a hung server and a refusing one do not delay a healthy device; links come back by themselves', async () => {
    const healthy = await ModbusServer.create({ moving: [0] });
    const hung = await ModbusServer.create({ moving: [0] });
    const units = await ModbusServer.create({ moving: [0], unitFail: { 2: 11 } });
    const refusedPort = await freePort();
    cleanups.push(
      () => healthy.stop(),
      () => hung.stop(),
      () => units.stop(),
    );
    const dev = (name: string, port: number, unit = 1) => `    - name: ${name}
      transport: { type: tcp, host: 127.0.0.1, port: ${port} }
      unit_id: ${unit}
      poll_interval: 200ms
      timeout: 300ms
      tags: [ { name: counter, table: holding, address: 0 } ]
`;
    const g = await TestGateway.create({
      yaml: `modbus:\n  devices:\n${dev('healthy', healthy.port)}${dev('hung', hung.port)}${dev('refused', refusedPort)}${dev('unit1', units.port, 1)}${dev('unit2', units.port, 2)}`,
    });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor(
      'the hung device to be polled',
      async () => (await g.query("SELECT count() FROM fieldgate.points WHERE device = 'hung' AND quality = 0")) !== '0',
      30_000,
      100,
    );

    hung.signal('SIGSTOP');
    const t0 = Date.now();
    await sleep(6000);
    const gaps = await intervals(g, 'healthy', t0);
    expect(gaps.length).toBeGreaterThan(20);
    const worst = p99(gaps.map((d) => Math.abs(d - 200)));
    console.log(`healthy device while a neighbour hangs and another refuses: ${gaps.length} polls, p99 deviation ${worst} ms of 200 ms`);
    expect(worst).toBeLessThanOrEqual(20);
    // The hung and the refusing devices are marked, not silent.
    expect(await g.query("SELECT argMax(quality, ts) FROM fieldgate.points WHERE device = 'hung'")).toBe(String(0x800a0000));
    expect(await g.query("SELECT argMax(quality, ts) FROM fieldgate.points WHERE device = 'refused'")).toBe(String(0x80310000));
    expect(await g.metric('fieldgate_modbus_connected{device="refused"}')).toBe(0);
    // A gateway exception (0x0B) marks only the unit behind it.
    expect(await g.query("SELECT device, argMax(quality, ts) FROM fieldgate.points WHERE device IN ('unit1', 'unit2') GROUP BY device ORDER BY device")).toBe(
      `unit1\t0\nunit2\t${0x80310000}`,
    );
    expect(await g.query("SELECT count() > 5 FROM fieldgate.points WHERE device = 'unit1' AND quality = 0")).toBe('1');

    // The hung server wakes up: its device reads again without a gateway restart.
    hung.signal('SIGCONT');
    const t1 = Date.now();
    await waitFor('the hung device to recover', async () => (await intervals(g, 'hung', t1)).length > 2, 20_000, 200);

    // The healthy server restarts on the same port: the link reconnects by itself.
    await healthy.stop();
    await sleep(500);
    await healthy.start();
    const t2 = Date.now();
    await waitFor('the restarted device to read again', async () => (await intervals(g, 'healthy', t2)).length > 2, 20_000, 200);
    expect(g.alive).toBe(true);
    const m = await g.metrics();
    for (const name of PROMISED_MODBUS_METRICS) expect(m, name).toMatch(new RegExp(`^${name}`, 'm'));
  });
});
