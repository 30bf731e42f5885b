import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { TestGateway } from '../../helpers/gateway.js';
import { ModbusServer } from '../../helpers/modbus.js';
import { sleep, waitFor } from '../../helpers/ports.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const dev = (name: string, host: string, port: number, tags: string) => `    - name: ${name}
      transport: { type: tcp, host: ${host}, port: ${port} }
      poll_interval: 200ms
      tags: [ ${tags} ]
`;

describe('Modbus reload on SIGHUP', () => {
  it('applies new tag maps while unchanged devices keep polling; refuses a bad file', async () => {
    const server = await ModbusServer.create({ moving: [0, 1] });
    cleanups.push(() => server.stop());
    const p = server.port;
    const v1 = `modbus:\n  devices:\n${dev('a', '127.0.0.1', p, '{ name: counter, table: holding, address: 0 }')}${dev('b', '127.0.0.1', p, '{ name: counter, table: holding, address: 0 }')}`;
    const g = await TestGateway.create({ yaml: v1 });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('a and b', async () => (await g.query('SELECT uniqExact(device) FROM fieldgate.points')) === '2', 30_000, 100);
    const t0 = Date.now();
    await sleep(1000);

    g.setYaml(
      `modbus:\n  devices:\n${dev('a', '127.0.0.1', p, '{ name: counter, table: holding, address: 0 }')}${dev('b', '127.0.0.1', p, '{ name: counter, table: holding, address: 0 }, { name: second, table: holding, address: 1 }')}${dev('c', 'localhost', p, '{ name: counter, table: holding, address: 1 }')}`,
    );
    g.signal('SIGHUP');
    await waitFor(
      'b.second and c',
      async () => (await g.query("SELECT count() FROM fieldgate.points WHERE (device = 'b' AND tag = 'second') OR device = 'c'")) !== '0',
      20_000,
      100,
    );
    await sleep(1000);

    // a kept its schedule through the reload: no gap, no reconnect of its link.
    const ts = (
      await g.query(`SELECT toUnixTimestamp64Milli(ts) FROM fieldgate.points WHERE device = 'a' AND ts >= fromUnixTimestamp64Milli(${t0}) ORDER BY ts`)
    )
      .split('\n')
      .map(Number);
    const gaps = ts.slice(1).map((t, i) => t - ts[i]);
    expect(Math.max(...gaps)).toBeLessThan(260);
    const connects = g.logs.split('\n').filter((l) => l.includes('modbus: connected') && l.includes(`tcp:127.0.0.1:${p}`));
    expect(connects).toHaveLength(1);
    expect(g.logs).toContain('"kept":["a"],"planned":["b","c"],"removed":[]');

    // A file that fails validation is refused; the running configuration stays.
    writeFileSync(g.config, 'state_dir: [\n');
    g.signal('SIGHUP');
    await g.waitForLog('the refusal', 'reload: refused', 10_000, 50);
    const before = Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'a'"));
    await sleep(800);
    expect(Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'a'"))).toBeGreaterThan(before);
    expect(g.alive).toBe(true);
  });
});
