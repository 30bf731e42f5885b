/**
 * Source loops never die quietly: a Modbus endpoint left with no tags keeps its loop and polls
 * again when a reload brings tags back; a Modbus or OPC UA loop that stops making progress (stuck
 * on a call that never returns, injected through FIELDGATE_FAULTS) is named by /readyz and by
 * fieldgate_loop_stalled, and recovers when the fault goes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Gateway as GatewayClass } from '../../src/pipeline/gateway.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { ROOT, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { ModbusServer } from '../helpers/modbus.js';
import { OpcuaServer, TEST_NS } from '../helpers/opcua.js';
import { freePort, sleep, waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();

const modbus = (port: number, tags: string) => `modbus:
  devices:
    - name: m1
      transport: { type: tcp, host: 127.0.0.1, port: ${port} }
      poll_interval: 200ms
      timeout: 500ms
      tags: [ ${tags} ]
`;

describe('source loops', () => {
  it('a Modbus endpoint with no tags keeps its loop; a reload that brings tags back polls again', async () => {
    const server = await ModbusServer.create({ moving: [0] });
    cleanups.push(() => server.stop());
    const g = await TestGateway.create({ yaml: modbus(server.port, '') });
    cleanups.push(() => g.stop());
    await g.start();
    await sleep(1500);
    expect(g.logs).not.toMatch(/poll loop (ended|failed)/);
    expect((await g.readyz()).status).toBe(200); // no work: not stalled
    g.setYaml(modbus(server.port, '{ name: counter, table: holding, address: 0 }'));
    g.signal('SIGHUP');
    await waitFor(
      'polled values after the reload',
      async () => Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'm1'")) > 3,
      20_000,
      200,
    );
  });

  it('a Modbus loop stuck on a call is named by /readyz, and recovers', async () => {
    const server = await ModbusServer.create({ moving: [0] });
    cleanups.push(() => server.stop());
    const faults = join(tempDir('fg-lf-'), 'faults.json');
    writeFileSync(faults, '{}');
    const g = await TestGateway.create({ yaml: modbus(server.port, '{ name: counter, table: holding, address: 0 }'), env: { FIELDGATE_FAULTS: faults } });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('polling', async () => Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'm1'")) > 2, 20_000, 200);
    writeFileSync(faults, JSON.stringify({ modbus_poll: { action: 'stall', ms: 20_000, count: 1 } }));
    // Limit: 3 × 200 ms + 3 × 500 ms + 5 s ≈ 7 s.
    const r = await waitFor(
      '/readyz to name the Modbus loop',
      async () => {
        const x = await g.readyz();
        return x.status === 503 && x.body.stalled.find((s) => s.loop.startsWith('modbus:tcp:127.0.0.1'));
      },
      30_000,
      250,
    );
    expect(r.silent_ms).toBeGreaterThan(6000);
    expect(await g.metric(`fieldgate_loop_stalled{loop="${r.loop}"}`)).toBe(1);
    await waitFor('readiness again after the stall ends', async () => (await g.readyz()).status === 200, 30_000, 250);
  });

  it('an OPC UA loop stuck on a call is named by /readyz, and recovers', async () => {
    const ua = await OpcuaServer.create({ variables: [{ name: 'Temp', type: 'Double', moving: true }] });
    cleanups.push(() => ua.stop());
    const faults = join(tempDir('fg-lf-'), 'faults.json');
    writeFileSync(faults, '{}');
    const yaml = `opcua:
  servers:
    - name: oven
      endpoint: ${ua.endpoint}
      security: { mode: None }
      request_timeout: 1s
      nodes: [ { node_id: "nsu=${TEST_NS};s=Line3.Temp", tag: temp } ]
`;
    const g = await TestGateway.create({ yaml, env: { FIELDGATE_FAULTS: faults } });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('a session', async () => (await g.metric('fieldgate_opcua_session_up{server="oven"}')) === 1, 30_000, 200);
    // The session ends (the server goes away) and the next attempt hangs.
    writeFileSync(faults, JSON.stringify({ opcua_session: { action: 'stall', ms: 25_000, count: 1 } }));
    await sleep(200);
    await ua.stop();
    const r = await waitFor(
      '/readyz to name the OPC UA loop',
      async () => {
        const x = await g.readyz();
        return x.status === 503 && x.body.stalled.find((s) => s.loop === 'opcua:oven');
      },
      40_000,
      250,
    );
    expect(r.silent_ms).toBeGreaterThan(13_000); // 3 × request_timeout + 10 s
  });

  it('SIGTERM while an OPC UA session is still opening exits promptly (the stop used to wait for a session end that never came)', async () => {
    const ua = await OpcuaServer.create({ variables: [{ name: 'Temp', type: 'Double', moving: true }] });
    cleanups.push(() => ua.stop());
    for (const wait of [50, 400]) {
      const g = await TestGateway.create({
        yaml: `opcua:\n  servers:\n    - name: oven\n      endpoint: ${ua.endpoint}\n      security: { mode: None }\n      nodes: [ { node_id: "nsu=${TEST_NS};s=Line3.Temp", tag: temp } ]\n`,
      });
      cleanups.push(() => g.stop('SIGKILL'));
      await g.start();
      await sleep(wait);
      const code = await Promise.race([g.stop(), sleep(15_000).then(() => 'hung')]);
      expect(code).toBe(0);
    }
  });

  it('two reloads at once are applied one after the other: one session per server afterwards', async () => {
    const ua = await OpcuaServer.create({ variables: [{ name: 'Temp', type: 'Double', moving: true }] });
    cleanups.push(() => ua.stop());
    const dir = tempDir('fg-reload-');
    const http = await freePort();
    const text = (timeout: string) =>
      `state_dir: ${dir}/state\nlog: { level: silent }\nbroker: { listeners: [ { type: tcp, bind: "127.0.0.1:0" } ] }\nhttp: { bind: "127.0.0.1:${http}" }\nclickhouse: { url: "${inject('clickhouseUrl')}", database: fg_reload }\nopcua:\n  servers:\n    - name: oven\n      endpoint: ${ua.endpoint}\n      security: { mode: None }\n      request_timeout: ${timeout}\n      nodes: [ { node_id: "nsu=${TEST_NS};s=Line3.Temp", tag: temp } ]\n`;
    const cfg = (timeout: string) => parseConfig(text(timeout), 'reload.yaml').config!;
    const metrics = createMetrics(new Registry(), false);
    // The built gateway (as users run it): its worker pool loads dist/encode/worker.js.
    const { Gateway } = (await import(join(ROOT, 'dist/pipeline/gateway.js'))) as { Gateway: typeof GatewayClass };
    const gw = new Gateway(cfg('5s'), metrics, createLogger('silent'));
    cleanups.push(() => gw.stop());
    await gw.start();
    const sessions = async (): Promise<number> => (await ua.stats()).sessions;
    await waitFor('a session', async () => (await metrics.opcuaSessionUp.get()).values[0]?.value === 1, 30_000, 100);
    const before = await sessions();
    // Two reloads at once (two SIGHUPs in quick succession), both changing a connection setting.
    await Promise.all([gw.reload(cfg('6s')), gw.reload(cfg('6s'))]);
    await waitFor('the session again', async () => (await metrics.opcuaSessionUp.get()).values[0]?.value === 1, 30_000, 100);
    await sleep(2000);
    // Serialized: the first restarts the session, the second finds it current. Interleaved, both
    // stopped the same server and started one each: two sessions under one name.
    expect((await sessions()) - before).toBe(1);
  });
});
