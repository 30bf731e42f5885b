/**
 * The chain of docs/chain.md, as three fieldgate processes on loopback: a platform gateway (the car
 * maker's) whose broker gives each supplier a user and the ACL suppliers/%u/# (write) and
 * orders/%u/# (read), and two supplier gateways that share with it and take its orders back.
 * A supplier cannot write into another's topics nor read another's data.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/passwords.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { BIN, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();

describe('partners: two suppliers and a platform, all fieldgate', () => {
  const gws: TestGateway[] = [];
  afterAll(async () => {
    for (const g of gws) await g.stop();
  });

  it('each supplier shares into its own prefix only, and gets only its own orders', async () => {
    const dir = tempDir('fg-chain-');
    const users = await Promise.all(['acme', 'glass', 'oem'].map(async (u) => `{ username: ${u}, password_hash: "${await hashPassword(`${u}-pw`)}" }`));
    const platform = await TestGateway.create({
      batchMaxDelay: '50ms',
      brokerYaml: `users: [ ${users.join(', ')} ], acl: [ { user: oem, topic: "#", access: readwrite }, { topic: "suppliers/%u/#", access: write }, { topic: "orders/%u/#", access: read } ]`,
      routes: ['{ topic: "suppliers/{supplier}/{device}/{tag+}", format: json, device: "{supplier}/{device}", tag: "" }'],
    });
    gws.push(platform);
    await platform.start();

    const supplier = async (name: string, devices: string, extraSend = '') => {
      writeFileSync(join(dir, `${name}.pass`), `${name}-pw\n`);
      const g = await TestGateway.create({
        batchMaxDelay: '50ms',
        yaml: [
          `gateway_id: ${name}-gw`,
          'partners:',
          '  - name: platform',
          `    broker: { url: "mqtt://127.0.0.1:${platform.mqttPort}", client_id: ${name}-gw, username: ${name}, password_file: ${join(dir, `${name}.pass`)} }`,
          '    send:',
          `      - { select: { device: "${devices}" }, topic: "suppliers/${name}/{device}/{tag}" }`,
          extraSend,
          '    receive:',
          `      - { topic: "orders/${name}/{device}/{tag+}", format: json }`,
          '    from: earliest',
        ]
          .filter(Boolean)
          .join('\n'),
      });
      gws.push(g);
      await g.start();
      return g;
    };
    const acme = await supplier('acme', 'press*');
    // glass also (wrongly) tries to write into acme's prefix: the platform's ACL drops it.
    const glass = await supplier('glass', 'furnace*', '      - { select: { device: "furnace*" }, topic: "suppliers/acme/{device}/{tag}" }');

    const publish = async (g: TestGateway, topic: string, values: number[]) => {
      const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { protocolVersion: 4 });
      for (const v of values) await c.publishAsync(topic, String(v), { qos: 1 });
      await c.endAsync();
    };
    await publish(acme, 'plant/press1/count', [1, 2, 3]);
    await publish(acme, 'plant/oven1/temp', [180]); // not shared
    await publish(glass, 'plant/furnace1/temp', [1450, 1451]);

    const q = (g: TestGateway, sql: string) => g.query(sql);
    await waitFor(
      'the shared values at the platform',
      async () => (await q(platform, "SELECT count() FROM fieldgate.points WHERE device IN ('acme/press1', 'glass/furnace1')")) === '5',
      30_000,
      200,
    );
    expect(
      await q(
        platform,
        'SELECT device, tag, groupArray(toUInt32(value)) FROM (SELECT * FROM fieldgate.points ORDER BY value) GROUP BY device, tag ORDER BY device',
      ),
    ).toBe('acme/press1\tcount\t[1,2,3]\nglass/furnace1\ttemp\t[1450,1451]');
    expect(await platform.metric('fieldgate_broker_acl_denied_total{action="publish"}')).toBeGreaterThanOrEqual(2);

    // A supplier cannot read another's data (nor its orders).
    const spy = await connectAsync(`mqtt://127.0.0.1:${platform.mqttPort}`, {
      protocolVersion: 4,
      username: 'acme',
      password: 'acme-pw',
      clientId: 'acme-spy',
    });
    cleanups.push(() => spy.endAsync(true));
    // mqtt.js turns a SUBACK of 0x80 into this error.
    for (const f of ['suppliers/glass/#', 'orders/glass/#']) await expect(spy.subscribeAsync(f, { qos: 1 })).rejects.toThrow(/Subscribe error/);

    // The car maker publishes its orders; each supplier stores its own, marked as the platform's.
    const oem = await connectAsync(`mqtt://127.0.0.1:${platform.mqttPort}`, { protocolVersion: 4, username: 'oem', password: 'oem-pw', clientId: 'oem-erp' });
    cleanups.push(() => oem.endAsync(true));
    await oem.publishAsync('orders/acme/press1/order', JSON.stringify({ qty: 500, due: '2026-12-24' }), { qos: 1 });
    await oem.publishAsync('orders/glass/furnace1/order', JSON.stringify({ qty: 70 }), { qos: 1 });
    for (const [g, want] of [
      [acme, 500],
      [glass, 70],
    ] as const) {
      await waitFor(
        'the order at the supplier',
        async () => (await q(g, "SELECT count() FROM fieldgate.points WHERE source = 'partner:platform' AND tag = 'order/qty'")) === '1',
        30_000,
        200,
      );
      expect(await q(g, "SELECT toUInt32(value) FROM fieldgate.points WHERE source = 'partner:platform' AND tag = 'order/qty'")).toBe(String(want));
    }
    expect(await q(acme, "SELECT text FROM fieldgate.points WHERE source = 'partner:platform' AND tag = 'order/due'")).toBe('2026-12-24');
    // What the platform sent back is never shared again (no loops): acme shares press* only, and the order row is press1's.
    expect(await q(platform, "SELECT count() FROM fieldgate.points WHERE tag LIKE 'order%'")).toBe('0');

    // Before enabling anything, the plant owner sees what each partner's selection sends and what never leaves.
    const preview = execFileSync(process.execPath, [BIN, 'partners', 'preview', '-c', acme.config], { encoding: 'utf8' });
    expect(preview).toContain('SENT      press1  count  (3 values stored; entry 1 → suppliers/acme/press1/count)');
    expect(preview).toContain('withheld  oven1  temp  (1 values stored)');
    expect(preview).toContain('1 of 2 device/tag pairs in the store are sent; 1 never leave.');
    const json = JSON.parse(
      execFileSync(process.execPath, [BIN, 'partners', 'preview', '-c', acme.config, 'platform', '--json'], { encoding: 'utf8' }),
    ) as Array<{ sent: Array<{ device: string }>; withheld: Array<{ device: string }>; receive: string[] }>;
    expect(json[0].sent.map((x) => x.device)).toEqual(['press1']);
    expect(json[0].withheld.map((x) => x.device)).toEqual(['oven1']);
    expect(json[0].receive).toEqual(['orders/acme/{device}/{tag+}']);
  }, 120_000);
});
