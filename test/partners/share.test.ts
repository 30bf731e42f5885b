/**
 * Sharing with a partner's platform: Debian's mosquitto with TLS, client certificates (CN =
 * username) and an ACL that allows the supplier only its prefixes. A QoS 1 sequence of 20,000
 * values goes through the share while the partner broker is stopped for 15 s and the gateway is
 * SIGKILLed twice (and reloaded once); every acknowledged value arrives, a secret tag beside it
 * never does, and orders the partner publishes (also while the gateway is down) land in the store.
 */
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { PROMISED_PARTNER_METRICS } from '../../src/telemetry/metrics.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { TestGateway } from '../helpers/gateway.js';
import { qos1Load } from '../helpers/load.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { sleep, waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();
const TOTAL = 20_000;

function partnerYaml(m: Mosquitto, maxRate: number): string {
  return [
    'partners:',
    '  - name: oem',
    `    broker: { url: "${m.url}", client_id: acme-line3, ca_file: ${join(m.dir, 'ca.pem')}, cert_file: ${join(m.dir, 'acme.pem')}, key_file: ${join(m.dir, 'acme.key')}, keepalive: 2s }`,
    '    send:',
    '      - { select: { device: "line*", tag: "seq" }, topic: "suppliers/acme/{device}/{tag}", qos: 1 }',
    '    receive:',
    '      - { topic: "orders/acme/{device}/{tag+}", format: json }',
    `    max_rate: ${maxRate}`,
    '    retry_initial: 100ms',
    '    retry_max: 1s',
    '    from: earliest',
  ].join('\n');
}

describe('partners: a durable, allow-listed share over MQTT with TLS', () => {
  let g: TestGateway | undefined;
  let m: Mosquitto | undefined;
  afterAll(async () => {
    await g?.stop();
    await m?.stop();
  });

  it('delivers every acknowledged value through outages and crashes, never the secret tag, and stores the orders', async () => {
    m = await Mosquitto.create(['user acme', 'topic write suppliers/acme/#', 'topic read orders/acme/#', '', 'user oem', 'topic readwrite #'], ['acme', 'oem']);
    await m.start();
    const broker = m;

    // The platform's side: everything on the broker, as the car maker's platform would read it.
    const seen = new Map<number, number>();
    const leaked: string[] = [];
    const ids = new Set<string>();
    const platform: MqttClient = await connectAsync(broker.url, {
      ...broker.tls('oem'),
      clientId: 'oem-platform',
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 200,
    });
    cleanups.push(() => platform.endAsync(true));
    platform.on('message', (topic, payload) => {
      if (topic.startsWith('orders/')) return;
      const text = payload.toString();
      if (!topic.startsWith('suppliers/acme/line1/seq') || text.includes('secret')) leaked.push(`${topic} ${text.slice(0, 120)}`);
      const j = JSON.parse(text) as { id: string; value: number; device: string; tag: string };
      ids.add(j.id);
      seen.set(j.value, (seen.get(j.value) ?? 0) + 1);
    });
    await platform.subscribeAsync('#', { qos: 1 });

    g = await TestGateway.create({ batchMaxDelay: '100ms', yaml: partnerYaml(broker, 0) });
    await g.start();
    const gw = g;

    // The secret tag, beside the shared one, on the same device, all along.
    let secrets = 0;
    let stopSecrets = false;
    const secretLoop = (async () => {
      while (!stopSecrets) {
        try {
          const c = await connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { reconnectPeriod: 0, protocolVersion: 4 });
          // mqtt.js leaves a QoS 1 publish pending when the connection drops (a SIGKILLed gateway).
          const closed = new Promise<void>((res) => c.once('close', () => res()));
          while (!stopSecrets && c.connected) {
            await Promise.race([
              Promise.all([c.publishAsync('plant/line1/secret', String(424242), { qos: 1 }), c.publishAsync('plant/other/seq', String(535353), { qos: 1 })]),
              closed,
            ]);
            secrets++;
            await sleep(20);
          }
          c.end(true);
        } catch {
          await sleep(50);
        }
      }
    })();

    const load = qos1Load(() => gw.mqttPort, { topic: 'plant/line1/seq', clientPrefix: 'share-pub', pauseEvery: 100, pauseMs: 120 });
    const t0 = Date.now();
    const step = (what: string) =>
      console.log(
        `share +${((Date.now() - t0) / 1000).toFixed(1)}s: ${what} (published ${load.published}, acknowledged ${load.acked.size}, at the platform ${seen.size})`,
      );
    const until = async (n: number) => {
      await waitFor(`${n} values published`, () => load.published >= n, 120_000, 20);
      step(`${n} published`);
    };

    await until(4000);
    await gw.kill(); // SIGKILL 1
    load.dropConnection();
    await gw.start();

    await until(6000);
    await broker.stop(); // the partner's platform goes away for 15 s
    const down = Date.now();
    // An order published while the platform is down cannot be; one published while the gateway is down can.
    await until(9000);
    gw.setYaml(partnerYaml(broker, 5000)); // a reload during the outage: same selection, another rate
    gw.signal('SIGHUP');
    await sleep(Math.max(0, 15_000 - (Date.now() - down)));
    await broker.start();

    await until(18_500);
    await gw.kill(); // SIGKILL 2
    load.dropConnection();
    await waitFor('the platform to reconnect', () => platform.connected, 10_000, 50);
    for (let i = 0; i < 5; i++) await platform.publishAsync('orders/acme/line1/order', JSON.stringify({ qty: 10 + i }), { qos: 1 });
    await gw.start();

    await until(TOTAL);
    await load.stop();
    stopSecrets = true;
    await secretLoop;
    const acked = [...load.acked];
    expect(acked.length).toBeGreaterThanOrEqual(TOTAL * 0.95);

    await waitFor('every acknowledged value at the platform', () => acked.every((v) => seen.has(v)), 60_000, 200).catch(() => undefined);
    step('drained');
    const missing = acked.filter((v) => !seen.has(v));
    if (missing.length) console.log(gw.logs.slice(-6000), broker.log);
    expect(missing.length, `acknowledged but never at the platform (of ${acked.length}): ${missing.slice(0, 20).join(', ')}`).toBe(0);
    expect(secrets).toBeGreaterThan(100);
    expect(leaked, 'messages that are not the shared tag').toEqual([]);
    expect([...seen.keys()].filter((v) => v === 424242 || v === 535353)).toEqual([]);
    // Each message names its value for good: a value sent twice (after a crash) carries the same id.
    const dupValues = [...seen.values()].filter((c) => c > 1).length;
    expect(ids.size).toBe(seen.size);

    // The orders the platform published while the gateway was down land in the store, marked as the partner's.
    await waitFor(
      'the orders in the store',
      async () => Number(await gw.query("SELECT count() FROM fieldgate.points WHERE source = 'partner:oem' AND device = 'line1' AND tag = 'order/qty'")) >= 5,
      30_000,
      200,
    );
    expect(await gw.query("SELECT groupArray(toUInt32(value)) FROM (SELECT value FROM fieldgate.points WHERE source = 'partner:oem' ORDER BY value)")).toBe(
      '[10,11,12,13,14]',
    );

    // A message past receive_max_bytes (1 MiB) is acknowledged, counted and not stored.
    await platform.publishAsync('orders/acme/line1/huge', JSON.stringify({ blob: 'x'.repeat(1_500_000) }), { qos: 1 });
    await waitFor(
      'the huge order to be refused',
      async () => (await gw.metric('fieldgate_partner_errors_total{partner="oem",reason="too_large"}')) === 1,
      15_000,
      100,
    );
    expect(await gw.query("SELECT count() FROM fieldgate.points WHERE tag LIKE 'huge%'")).toBe('0');

    // What the gateway reports of it: every metric the list promises for partners.
    const text = await gw.metrics();
    for (const name of PROMISED_PARTNER_METRICS) expect(text, name).toMatch(new RegExp(`^${name}`, 'm'));
    expect(await gw.metric('fieldgate_partner_connected{partner="oem"}')).toBe(1);
    expect(await gw.metric('fieldgate_partner_received_messages_total{partner="oem"}')).toBeGreaterThanOrEqual(1);
    const r = await gw.readyz();
    expect((r.body as unknown as { partners: Array<{ name: string; state: string }> }).partners[0]).toMatchObject({ name: 'oem', state: 'connected' });
    console.log(
      `share: ${acked.length} acknowledged, ${seen.size} distinct at the platform, ${dupValues} sent more than once (after the crashes), ${secrets} secret values withheld`,
    );
  }, 240_000);
});
