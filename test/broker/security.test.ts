import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { PROMISED_BROKER_METRICS } from '../../src/telemetry/metrics.js';
import { BIN, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { freePort, sleep, waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const run = promisify(execFile);
const cleanups = cleanupsAfterAll();

/** A CA, a server certificate for 127.0.0.1 and a client certificate with CN press1, made with openssl. */
function certificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=fieldgate test CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn, ext] of [
    ['server', '127.0.0.1', ['-extfile', 'server.ext']],
    ['client', 'press1', []],
  ] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...ext);
  }
}

/** Connects with mqtt.js; resolves the client, or the CONNACK return code it was refused with. */
async function attempt(url: string, o: IClientOptions = {}): Promise<MqttClient | number> {
  try {
    const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...o });
    cleanups.push(() => c.endAsync(true));
    return c;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

async function client(url: string, o: IClientOptions = {}): Promise<MqttClient> {
  const c = await attempt(url, o);
  if (typeof c === 'number') throw new Error(`refused with ${c}`);
  return c;
}

/** Sends a raw CONNECT (a packet for mqtt-packet, or bytes) and returns the CONNACK's return code. */
function rawConnack(port: number, packet: Record<string, unknown> | Buffer): Promise<number> {
  return new Promise((res, rej) => {
    const s = netConnect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      s.destroy();
      res((p as { returnCode?: number; reasonCode?: number }).returnCode ?? (p as { reasonCode: number }).reasonCode);
    });
    s.on('data', (d) => parser.parse(d));
    s.on('error', rej);
    s.write(
      Buffer.isBuffer(packet)
        ? packet
        : mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', keepalive: 30, clean: true, clientId: 'raw', ...packet } as never, {
            protocolVersion: (packet.protocolVersion as number) ?? 4,
          }),
    );
  });
}

describe('broker security: listeners, users, ACLs, limits', () => {
  it('serves tcp, tls, ws and wss; authenticates users and certificates; enforces the ACL matrix; reloads users and rules', async () => {
    const dir = tempDir('fg-sec-');
    certificates(dir);
    execFileSync('mosquitto_passwd', ['-c', '-b', join(dir, 'passwd'), 'viewer', 'v1ewer']);
    expect(readFileSync(join(dir, 'passwd'), 'utf8')).toMatch(/^viewer:\$7\$/);
    writeFileSync(
      join(dir, 'acl'),
      ['# mosquitto acl_file', 'user viewer', 'topic read plant/#', 'topic deny plant/secret/#', 'pattern readwrite devices/%u/#', ''].join('\n'),
    );
    const hash = await new Promise<string>((res, rej) => {
      const p = execFile(process.execPath, [BIN, 'passwd'], (err, out) => (err ? rej(new Error(err.message)) : res(out.trim())));
      p.stdin!.end('pr3ss\n');
    });
    expect(hash).toMatch(/^\$fg-scrypt\$N=16384,r=8,p=1\$/);
    const [open, tls, mtls, ws, wss] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const brokerYaml = (users: string) => `  listeners:
    - { type: tcp, bind: "0.0.0.0:${open}" }
    - { type: tls, bind: "127.0.0.1:${tls}", cert_file: ${dir}/server.pem, key_file: ${dir}/server.key }
    - { type: tls, bind: "127.0.0.1:${mtls}", cert_file: ${dir}/server.pem, key_file: ${dir}/server.key, ca_file: ${dir}/ca.pem, require_client_cert: true, cn_as_username: true }
    - { type: ws, bind: "127.0.0.1:${ws}", path: /mqtt }
    - { type: wss, bind: "127.0.0.1:${wss}", path: /ws, cert_file: ${dir}/server.pem, key_file: ${dir}/server.key }
${users}
  password_file: ${dir}/passwd
  acl:
    - { user: press1, topic: "plant/press1/#", access: write }
  acl_file: ${dir}/acl
  limits: { max_packet_size: 64KiB }
`;
    const g = await TestGateway.create({ yaml: '' });
    // The gateway's own loopback listener stays first (tests publish to it); the broker section is replaced.
    const base = (users: string) =>
      `broker:\n  listeners:\n    - { type: tcp, bind: "127.0.0.1:${g.mqttPort}" }\n${brokerYaml(users).split('\n').slice(1).join('\n')}`;
    const withUsers = `  users:\n    - { username: press1, password_hash: "${hash}" }`;
    const cfg = readFileSync(g.config, 'utf8').replace(/^broker: .*$/m, base(withUsers));
    writeFileSync(g.config, cfg);
    cleanups.push(() => g.stop());
    await g.start();

    // Anonymous: accepted on loopback, refused (CONNACK 5) on the 0.0.0.0 listener.
    expect(typeof (await attempt(`mqtt://127.0.0.1:${g.mqttPort}`))).toBe('object');
    expect(await attempt(`mqtt://127.0.0.1:${open}`)).toBe(5);
    // Passwords: scrypt (fieldgate passwd) and mosquitto $7$ (mosquitto_passwd); a wrong one gets 4.
    expect(await attempt(`mqtt://127.0.0.1:${open}`, { username: 'press1', password: 'wrong' })).toBe(4);
    const pub = await client(`mqtt://127.0.0.1:${open}`, { username: 'press1', password: 'pr3ss', clientId: 'press1-plc' });
    const viewer = await client(`mqtts://127.0.0.1:${tls}`, { username: 'viewer', password: 'v1ewer', ca: readFileSync(join(dir, 'ca.pem')) });
    expect(await g.metric('fieldgate_broker_auth_failures_total{reason="bad_credentials"}')).toBe(1);
    expect(await g.metric('fieldgate_broker_auth_failures_total{reason="anonymous"}')).toBe(1);

    // Subscriptions: granted inside the rules, 0x80 where denied or uncovered.
    const suback = (filter: string, qos: 0 | 1) =>
      viewer.subscribeAsync(filter, { qos }).then(
        (g2) => g2[0].qos,
        (err: { packet?: { granted: number[] } }) => err.packet!.granted[0],
      );
    expect([await suback('plant/#', 1), await suback('plant/secret/#', 1), await suback('other/#', 0), await suback('devices/viewer/#', 0)]).toEqual([
      1, 128, 128, 0,
    ]);
    const got: string[] = [];
    viewer.on('message', (topic) => got.push(topic));

    // Publishes: press1 may write plant/press1/#; its other writes are acknowledged, dropped and counted.
    await pub.publishAsync('plant/press1/temp', '21.5', { qos: 1 });
    await pub.publishAsync('plant/press2/temp', '99', { qos: 1 });
    await pub.publishAsync('plant/secret/temp', '99', { qos: 1 });
    await viewer.publishAsync('plant/viewer/temp', '1', { qos: 1 });
    await viewer.publishAsync('devices/viewer/state', '1', { qos: 1 });
    await waitFor('the allowed message', () => got.includes('plant/press1/temp'), 10_000, 50);
    await sleep(500);
    expect(got.sort()).toEqual(['devices/viewer/state', 'plant/press1/temp']);
    expect(await g.metric('fieldgate_broker_acl_denied_total{action="publish"}')).toBe(3);
    expect(await g.metric('fieldgate_broker_acl_denied_total{action="subscribe"}')).toBe(2);
    await waitFor('rows', async () => (await g.query("SELECT count() FROM fieldgate.points WHERE device = 'press1'")) === '1', 10_000, 100);
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device IN ('press2', 'secret', 'viewer')")).toBe('0');

    // A client certificate whose CN is the username (mosquitto's CLI as the client): press1 may write.
    const mtlsArgs = [
      '-h',
      '127.0.0.1',
      '-p',
      String(mtls),
      '--cafile',
      join(dir, 'ca.pem'),
      '--cert',
      join(dir, 'client.pem'),
      '--key',
      join(dir, 'client.key'),
    ];
    await run('mosquitto_pub', [...mtlsArgs, '-t', 'plant/press1/cert', '-m', '7', '-q', '1']);
    await waitFor(
      'the certificate-authenticated row',
      async () => (await g.query("SELECT count() FROM fieldgate.points WHERE tag = 'cert'")) === '1',
      10_000,
      100,
    );
    // Without a client certificate the TLS handshake fails.
    await expect(
      run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mtls), '--cafile', join(dir, 'ca.pem'), '-t', 'plant/press1/cert', '-m', '8']),
    ).rejects.toThrow();

    // MQTT over WebSocket, plain and TLS, on their paths.
    const wsClient = await client(`ws://127.0.0.1:${ws}/mqtt`, { username: 'press1', password: 'pr3ss' });
    await wsClient.publishAsync('plant/press1/ws', '3', { qos: 1 });
    const wssClient = await client(`wss://127.0.0.1:${wss}/ws`, { username: 'press1', password: 'pr3ss', ca: readFileSync(join(dir, 'ca.pem')) });
    await wssClient.publishAsync('plant/press1/wss', '4', { qos: 1 });
    await waitFor('ws and wss rows', async () => (await g.query("SELECT count() FROM fieldgate.points WHERE tag IN ('ws', 'wss')")) === '2', 10_000, 100);

    // A packet past limits.max_packet_size closes that connection only.
    const big = await client(`mqtt://127.0.0.1:${g.mqttPort}`);
    const closed = new Promise<void>((r) => big.once('close', () => r()));
    big.publish('plant/big/blob', Buffer.alloc(100 * 1024), { qos: 0 });
    await closed;
    expect(await g.metric('fieldgate_broker_disconnects_total{reason="packet_too_large"}')).toBeGreaterThanOrEqual(1);

    // [MQTT-3.1.3-8]: an empty client id with a persistent session gets CONNACK 2; MQTT 5 gets 1.
    // (mqtt-packet refuses to encode it, so the bytes are written out: MQTT v4, flags 0 = clean session off, keep-alive 30, client id "".)
    expect(await rawConnack(g.mqttPort, Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0]))).toBe(2);
    expect(await rawConnack(g.mqttPort, { clientId: '', clean: true })).toBe(0);
    expect(await rawConnack(g.mqttPort, { protocolVersion: 5, clientId: 'v5' })).toBe(1);
    await g.waitForLog('the MQTT 5 log line', 'MQTT 5 clients are refused with CONNACK 1', 5000, 50);

    // SIGHUP: press1 removed from users; connected clients stay, new logins of press1 are refused.
    writeFileSync(g.config, readFileSync(g.config, 'utf8').replace(withUsers, '  users: []'));
    g.signal('SIGHUP');
    await g.waitForLog('the reload', 'reload: broker users and access rules applied', 10_000, 50);
    expect(await attempt(`mqtt://127.0.0.1:${open}`, { username: 'press1', password: 'pr3ss' })).toBe(4);
    expect(pub.connected).toBe(true);
    await pub.publishAsync('plant/press1/after', '5', { qos: 1 });
    await waitFor(
      'a row from the connected client',
      async () => (await g.query("SELECT count() FROM fieldgate.points WHERE tag = 'after'")) === '1',
      10_000,
      100,
    );
    expect(g.alive).toBe(true);
    // Deliveries are counted: the viewer got plant/press1/temp and devices/viewer/state at QoS 1.
    expect(await g.metric('fieldgate_mqtt_messages_sent_total{qos="1"}')).toBeGreaterThanOrEqual(2);
    const m = await g.metrics();
    for (const name of PROMISED_BROKER_METRICS) expect(m, name).toMatch(new RegExp(`^${name}`, 'm'));
  });
});
