import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, TestGateway } from '../../helpers/gateway.js';
import { tempDir } from '../../helpers/journal.js';
import { OpcuaServer, TEST_NS, type OpcuaVariable } from '../../helpers/opcua.js';
import { sleep, waitFor } from '../../helpers/ports.js';
import { cleanupsAfterAll } from '../../helpers/cleanups.js';

const run = promisify(execFile);
const cleanups = cleanupsAfterAll();

const vars: OpcuaVariable[] = [
  ...Array.from({ length: 14 }, (_, i) => ({ name: `V${i}`, type: 'Double' as const, value: i * 100, moving: true })),
  ...Array.from({ length: 6 }, (_, i) => ({ name: `P${i}`, type: 'Int32' as const, value: i, moving: true })),
  { name: 'Analog', type: 'Double', value: 0, moving: true, euRange: [0, 200] },
  { name: 'Press.Counter', type: 'Int32', value: 0, moving: true },
];
const sub = (i: number) => `        - { node_id: "nsu=${TEST_NS};s=Line3.V${i}", tag: v${i}, sampling_interval: 100ms }`;
const poll = (i: number) => `        - { node_id: "nsu=${TEST_NS};s=Line3.P${i}", tag: p${i}, mode: poll, poll_interval: 300ms }`;
const config = (nodes: string[]) => `opcua:
  servers:
    - name: line3
      endpoint: ENDPOINT
      security: { mode: None }
      publishing_interval: 500ms
      nodes:
${nodes.join('\n')}
`;

describe('OPC UA operation limits, reload and discovery', () => {
  it('splits calls to the server limits, filters by deadband, reloads nodes on the live session, and discovers what validate accepts', async () => {
    const server = await OpcuaServer.create({ limits: { maxMonitoredItemsPerCall: 5, maxNodesPerRead: 4 }, tickMs: 100, variables: vars });
    cleanups.push(() => server.stop());
    const base = [
      ...Array.from({ length: 12 }, (_, i) => sub(i)),
      ...Array.from({ length: 6 }, (_, i) => poll(i)),
      `        - { node_id: "nsu=${TEST_NS};s=Line3.Analog", tag: analog, deadband: { type: percent, value: 10 } }`,
      `        - { browse_path: /Objects/Line3/Press/Counter, tag: counter, deadband: { type: absolute, value: 2.5 } }`,
    ];
    const g = await TestGateway.create({ yaml: config(base).replace('ENDPOINT', server.endpoint) });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor(
      'all 20 tags',
      async () => (await g.query("SELECT uniqExact(tag) FROM fieldgate.points WHERE device = 'line3' AND quality = 0")) === '20',
      30_000,
      200,
    );

    // No request larger than the server allows; all 14 monitored items created in calls of ≤ 5.
    const st = await server.stats();
    expect(Math.max(...st.createMonitoredItems)).toBeLessThanOrEqual(5);
    expect(st.createMonitoredItems.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(14);
    expect(Math.max(...st.reads)).toBeLessThanOrEqual(4);
    // The six polled nodes at one interval: a read of 4 and a read of 2, every cycle.
    expect(st.reads).toContain(4);
    expect(st.reads).toContain(2);
    expect(await g.metric('fieldgate_opcua_monitored_items{server="line3"}')).toBe(14);

    // Deadbands: 10 % of EURange 0–200 is 20; absolute 2.5 on a counter stepping by 1.
    await sleep(3000);
    const steps = async (tag: string) => {
      const v = (await g.query(`SELECT value FROM fieldgate.points WHERE tag = '${tag}' AND quality = 0 ORDER BY ts`)).split('\n').map(Number);
      return v.slice(1).map((x, i) => x - v[i]);
    };
    const analog = await steps('analog');
    expect(analog.length).toBeGreaterThan(0);
    expect(Math.min(...analog)).toBeGreaterThan(20);
    const counter = await steps('counter');
    expect(counter.length).toBeGreaterThan(3);
    expect(Math.min(...counter)).toBeGreaterThan(2.5);

    // SIGHUP: v0–v2 and p5 go, v12, v13 and p5 at another interval come; same session.
    const sessions = st.sessions;
    const next = [
      ...Array.from({ length: 12 }, (_, i) => sub(i)).slice(3),
      sub(12),
      sub(13),
      ...Array.from({ length: 5 }, (_, i) => poll(i)),
      `        - { node_id: "nsu=${TEST_NS};s=Line3.P5", tag: p5, mode: poll, poll_interval: 1s }`,
    ];
    g.setYaml(config(next).replace('ENDPOINT', server.endpoint));
    g.signal('SIGHUP');
    await g.waitForLog('the reload', 'reload: opcua servers applied', 10_000, 50);
    const t = Date.now();
    await waitFor(
      'v12 and v13',
      async () => (await g.query(`SELECT uniqExact(tag) FROM fieldgate.points WHERE tag IN ('v12', 'v13') AND quality = 0`)) === '2',
      15_000,
      200,
    );
    await sleep(1500);
    expect(await g.query(`SELECT count() FROM fieldgate.points WHERE tag IN ('v0', 'v1', 'v2') AND ts > fromUnixTimestamp64Milli(${t + 500})`)).toBe('0');
    expect(Number(await g.query(`SELECT count() FROM fieldgate.points WHERE tag = 'v3' AND ts > fromUnixTimestamp64Milli(${t + 500})`))).toBeGreaterThan(5);
    expect(Number(await g.query(`SELECT count() FROM fieldgate.points WHERE tag = 'p5' AND ts > fromUnixTimestamp64Milli(${t + 500})`))).toBeGreaterThan(0);
    expect((await server.stats()).sessions).toBe(sessions);
    expect(g.logs).toContain('"kept":["line3"]');
    expect(await g.metric('fieldgate_opcua_reconnects_total{server="line3"}')).toBe(0);

    // Discovery: the output names every variable in nsu= form and validates as written.
    const out = (await run(process.execPath, [BIN, 'discover', 'opcua', server.endpoint, '--name', 'line3', '--depth', '4'])).stdout;
    expect(out).toContain(`node_id: "nsu=${TEST_NS};s=Line3.V13", tag: "Line3/V13" }   # Double`);
    expect(out).toContain(`tag: "Line3/Press/Counter" }   # Int32`);
    expect(out).not.toContain('EURange');
    expect(out.match(/node_id:/g)).toHaveLength(22);
    const dir = tempDir('fg-disc-');
    writeFileSync(join(dir, 'c.yaml'), `state_dir: ${join(dir, 'state')}\n${out}`);
    expect((await run(process.execPath, [BIN, 'validate', '-c', join(dir, 'c.yaml')])).stdout).toContain('ok:');
    const filtered = (await run(process.execPath, [BIN, 'discover', 'opcua', server.endpoint, '--filter', 'Press/', '--root', '/Objects/Line3'])).stdout;
    expect(filtered.match(/node_id:/g)).toHaveLength(1);
    expect(filtered).toContain('tag: "Press/Counter"');
  });
});
