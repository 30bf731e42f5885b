import { readFileSync, writeFileSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { sleep, waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

describe('SIGHUP and MQTT routes', () => {
  it('applies new routes without dropping connected clients; a file that fails validation is refused', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop());
    await g.start();
    const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { clientId: 'line-plc', reconnectPeriod: 0 });
    cleanups.push(() => c.endAsync(true));
    let closed = false;
    c.on('close', () => (closed = true));
    await c.publishAsync('factory/m1/speed', '1', { qos: 1 });
    await waitFor('the unrouted message counted', async () => (await g.metric('fieldgate_records_rejected_total{reason="no_route"}')) === 1, 10_000, 100);

    writeFileSync(
      g.config,
      readFileSync(g.config, 'utf8').replace(
        '    - { topic: "json/{device}", format: json }',
        '    - { topic: "json/{device}", format: json }\n    - { topic: "factory/{device}/{tag}", format: number, device: "hall2-{device}" }',
      ),
    );
    g.signal('SIGHUP');
    await g.waitForLog('the reload', 'reload: mqtt routes applied', 10_000, 50);
    await c.publishAsync('factory/m1/speed', '2', { qos: 1 });
    await waitFor(
      'the routed row',
      async () => (await g.query("SELECT value FROM fieldgate.points WHERE device = 'hall2-m1' AND tag = 'speed'")) === '2',
      10_000,
      100,
    );

    writeFileSync(g.config, readFileSync(g.config, 'utf8').replace('format: number, device: "hall2-{device}"', 'format: xml'));
    g.signal('SIGHUP');
    await g.waitForLog('the refusal', 'reload: refused', 10_000, 50);
    await c.publishAsync('factory/m1/speed', '3', { qos: 1 });
    await waitFor(
      'the row under the running routes',
      async () => (await g.query("SELECT count() FROM fieldgate.points WHERE device = 'hall2-m1'")) === '2',
      10_000,
      100,
    );
    await sleep(200);
    expect(closed).toBe(false);
    expect(g.logs).not.toContain('take effect after a restart');
  });
});
