import { describe, expect, it } from 'vitest';
import { PROMISED_OPCUA_METRICS } from '../../../src/telemetry/metrics.js';
import { TestGateway } from '../../helpers/gateway.js';
import { OpcuaServer, TEST_NS } from '../../helpers/opcua.js';
import { sleep, waitFor } from '../../helpers/ports.js';
import { cleanupsAfterAll } from '../../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

const rows = async (g: TestGateway, where: string) => Number(await g.query(`SELECT count() FROM fieldgate.points WHERE device = 'line3' AND ${where}`));

describe('OPC UA subscriptions against a real server', () => {
  it('delivers values with source timestamps, every node form and type, and survives a server restart and a dropped subscription', async () => {
    const server = await OpcuaServer.create({
      tickMs: 200,
      variables: [
        { name: 'Temp', type: 'Double', value: 20, moving: true },
        { name: 'Press.Counter', type: 'Int32', value: 0, moving: true },
        { name: 'Big', type: 'Int64', value: [2, 5] },
        { name: 'Vector', type: 'Int32', array: 3, value: 10, moving: true },
        { name: 'Label', type: 'String', value: 7 },
        { name: 'Running', type: 'Boolean', value: 1 },
      ],
    });
    cleanups.push(() => server.stop());
    const yaml = `opcua:
  servers:
    - name: line3
      endpoint: ${server.endpoint}
      security: { mode: None }
      publishing_interval: 1s
      nodes:
        - { node_id: "nsu=${TEST_NS};s=Line3.Temp", tag: oven/temp, sampling_interval: 100ms }
        - { browse_path: /Objects/Line3/Press/Counter, tag: press/counter, sampling_interval: 100ms }
        - { node_id: "nsu=${TEST_NS};s=Line3.Big", tag: big }
        - { node_id: "nsu=${TEST_NS};s=Line3.Vector", tag: vector, sampling_interval: 100ms }
        - { node_id: "nsu=${TEST_NS};s=Line3.Label", tag: label, mode: poll, poll_interval: 500ms }
        - { node_id: "nsu=${TEST_NS};s=Line3.Running", tag: running }
        - { node_id: "nsu=urn:not:there;s=X", tag: missing }
`;
    const g = await TestGateway.create({ yaml });
    cleanups.push(() => g.stop());
    await g.start();
    await g.waitForLog('the warning about mode None', 'opcua: security mode None', 10_000, 50);

    await waitFor(
      'values of every node',
      async () => (await g.query("SELECT uniqExact(tag) FROM fieldgate.points WHERE device = 'line3' AND quality = 0")) === '8',
      30_000,
      200,
    );
    await sleep(2500);
    // Source timestamps: five samples per second, 200 ms apart, though the server publishes once a second.
    const ts = (
      await g.query("SELECT toUnixTimestamp64Milli(ts) FROM fieldgate.points WHERE device = 'line3' AND tag = 'oven/temp' AND quality = 0 ORDER BY ts")
    )
      .split('\n')
      .map(Number);
    expect(ts.length).toBeGreaterThanOrEqual(10);
    const gaps = ts.slice(1).map((t, i) => t - ts[i]);
    const near200 = gaps.filter((d) => d >= 150 && d <= 250).length;
    expect(near200 / gaps.length).toBeGreaterThan(0.8);
    // Values: the counter counts, 64-bit text is exact, arrays are one row per element, strings go to text.
    expect(await g.query("SELECT text FROM fieldgate.points WHERE tag = 'big' AND quality = 0 LIMIT 1")).toBe(String(2n * 2n ** 32n + 5n));
    expect(await g.query("SELECT groupUniqArray(tag) FROM (SELECT tag FROM fieldgate.points WHERE tag LIKE 'vector%' ORDER BY tag)")).toContain('vector[2]');
    expect(await g.query("SELECT text FROM fieldgate.points WHERE tag = 'label' AND quality = 0 LIMIT 1")).toBe('s7');
    expect(await g.query("SELECT value FROM fieldgate.points WHERE tag = 'running' AND quality = 0 LIMIT 1")).toBe('1');
    const counts = (await g.query("SELECT value FROM fieldgate.points WHERE tag = 'press/counter' AND quality = 0 ORDER BY ts")).split('\n').map(Number);
    expect(counts.slice(1).every((v, i) => v > counts[i])).toBe(true);
    // A node that does not exist: one bad row, a log line, a metric.
    expect(await g.query("SELECT quality FROM fieldgate.points WHERE tag = 'missing' LIMIT 1")).toBe(String(0x80340000));
    expect(await g.metric('fieldgate_opcua_node_errors{server="line3"}')).toBe(1);
    expect(await g.metric('fieldgate_opcua_monitored_items{server="line3"}')).toBe(5);
    // The label is polled: read requests every 500 ms, its value written once (unchanged).
    expect(await rows(g, "tag = 'label'")).toBe(1);

    // Kill the server and start it again on the same port: values resume within 10 s, no gateway restart.
    server.signal('SIGKILL');
    await waitFor('bad quality while the server is gone', async () => (await rows(g, `tag = 'oven/temp' AND quality = ${0x80310000}`)) > 0, 15_000, 200);
    await sleep(2000);
    await server.start();
    const back = Date.now();
    await waitFor(
      'values after the restart',
      async () => (await rows(g, `tag = 'oven/temp' AND quality = 0 AND ts > fromUnixTimestamp64Milli(${back})`)) > 0,
      20_000,
      100,
    );
    expect(Date.now() - back).toBeLessThan(10_000 + 1000);
    expect(await g.metric('fieldgate_opcua_reconnects_total{server="line3"}')).toBeGreaterThanOrEqual(1);
    expect(await g.metric('fieldgate_opcua_session_up{server="line3"}')).toBe(1);

    // The server drops the subscription while the TCP connection stays open: noticed and re-created.
    expect(await server.dropSubscriptions()).toBe(1);
    const dropped = Date.now();
    await sleep(500);
    await waitFor(
      'values after the dropped subscription',
      async () => (await rows(g, `tag = 'oven/temp' AND quality = 0 AND ts > fromUnixTimestamp64Milli(${dropped + 200})`)) > 0,
      20_000,
      200,
    );
    expect(await g.metric('fieldgate_opcua_subscriptions_recreated_total{server="line3"}')).toBeGreaterThanOrEqual(1);
    expect(g.logs).toContain('opcua: subscription lost or silent; re-creating it');
    expect(g.alive).toBe(true);
    const m = await g.metrics();
    for (const name of PROMISED_OPCUA_METRICS) expect(m, name).toMatch(new RegExp(`^${name}`, 'm'));
  });
});
