/**
 * SIGHUP and partners: a partner added while running starts at the journal's end; a narrowed
 * selection takes effect at once (a tag taken out never leaves afterwards); a removed partner stops
 * and its cursor goes, so it no longer holds the journal back.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { TestGateway } from '../helpers/gateway.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { sleep, waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();

describe('partners: reload', () => {
  let g: TestGateway | undefined;
  let m: Mosquitto | undefined;
  afterAll(async () => {
    await g?.stop();
    await m?.stop();
  });

  it('adds a partner at the journal end, narrows a selection, removes a partner', async () => {
    m = await Mosquitto.create(['user acme', 'topic write suppliers/acme/#', '', 'user oem', 'topic readwrite #'], ['acme', 'oem']);
    await m.start();
    const broker = m;
    const got: string[] = [];
    const platform: MqttClient = await connectAsync(broker.url, { ...broker.tls('oem'), clientId: 'oem-reload', protocolVersion: 4 });
    cleanups.push(() => platform.endAsync(true));
    platform.on('message', (topic, payload) =>
      got.push(`${topic.split('/').slice(-2).join('/')}=${(JSON.parse(payload.toString()) as { value: number }).value}`),
    );
    await platform.subscribeAsync('#', { qos: 1 });
    const partner = (tags: string) =>
      [
        'partners:',
        '  - name: oem',
        `    broker: { url: "${broker.url}", client_id: acme-reload, ca_file: ${join(broker.dir, 'ca.pem')}, cert_file: ${join(broker.dir, 'acme.pem')}, key_file: ${join(broker.dir, 'acme.key')} }`,
        `    send: [ { select: { device: "m1", tag: "${tags}" }, topic: "suppliers/acme/{device}/{tag}" } ]`,
      ].join('\n');

    g = await TestGateway.create({ batchMaxDelay: '50ms' });
    await g.start();
    const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    const pub = async (tag: string, v: number) => c.publishAsync(`plant/m1/${tag}`, String(v), { qos: 1 });
    await pub('a', 1);
    await pub('b', 1);
    await g.drained();

    // Added: from the journal's end (nothing before the reload is sent).
    g.setYaml(partner('*'));
    g.signal('SIGHUP');
    await waitFor('the partner to connect', async () => (await g!.metric('fieldgate_partner_connected{partner="oem"}')) === 1, 15_000, 100);
    await pub('a', 2);
    await pub('b', 2);
    await waitFor('the values after the reload', () => got.length >= 2, 15_000, 50);
    expect(got.sort()).toEqual(['m1/a=2', 'm1/b=2']);

    // Narrowed: b is taken out; it never leaves afterwards.
    g.setYaml(partner('a'));
    g.signal('SIGHUP');
    await g.waitForLog('the reload', '"changed":["oem"]', 15_000, 50);
    await pub('b', 3);
    await pub('a', 3);
    await waitFor('a=3', () => got.includes('m1/a=3'), 15_000, 50);
    await sleep(500);
    expect(got.filter((x) => x.startsWith('m1/b'))).toEqual(['m1/b=2']);

    // Removed: stops, and its cursor goes.
    const cursor = join(g.stateDir, 'cursors', 'partner.oem.json');
    expect(existsSync(cursor)).toBe(true);
    g.setYaml('');
    g.signal('SIGHUP');
    await g.waitForLog('the partner to go', '"removed":["oem"]', 15_000, 50);
    await pub('a', 4);
    await g.drained();
    await sleep(300);
    expect(got.includes('m1/a=4')).toBe(false);
    expect(existsSync(cursor)).toBe(false);
    const r = await g.readyz();
    expect((r.body as unknown as { partners: unknown[] }).partners).toEqual([]);
    expect(r.status).toBe(200);
  }, 90_000);
});
