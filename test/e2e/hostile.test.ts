/**
 * Hostile input against the running gateway, as an attacker on the plant network or a hand-edited
 * file would send it: escape attempts at the query door of both stores, a payload that made a
 * regex quadratic, a YAML alias bomb sent with SIGHUP, a flood of slow HTTP connections, an
 * oversized query, ill-formed UTF-8 topics, malformed Sparkplug topics, a state_dir that is a file
 * or read-only. Each case ends with the gateway healthy and ingest going on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { BIN, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { rawConn } from '../helpers/mqtt-raw.js';
import { sleep, waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();

async function post(g: TestGateway, sql: string, format = 'TabSeparated'): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${g.httpPort}/query?format=${encodeURIComponent(format)}`, { method: 'POST', body: sql });
  return { status: r.status, text: await r.text() };
}

async function publishValues(g: TestGateway, device: string, n: number): Promise<void> {
  const pub = new RawPublisher({ port: g.mqttPort, clientId: `v-${device}`, qos: 1 });
  await pub.connect();
  for (let i = 0; i < n; i++) pub.publish(`plant/${device}/v`, String(i), i);
  while (pub.pending.size > 0) await sleep(10);
  pub.close();
}

/** Escape attempts: each must be refused and change nothing. `OUT` stands for a file path. */
const ESCAPES: Array<[string, string?]> = [
  ["SELECT 'x' INTO OUTFILE 'OUT' TRUNCATE", 'RawBLOB'],
  ["SELECT 'x' INTO OUTFILE 'OUT'"],
  ["WITH 1 AS a SELECT a INTO OUTFILE 'OUT' FORMAT RawBLOB"],
  ["SELECT 1 /* ' */; TRUNCATE TABLE fieldgate.points; SELECT 2 /* ' */"],
  ["SELECT ';' AS x; DROP TABLE fieldgate.points"],
  ['SELECT 1 -- x\n; TRUNCATE TABLE fieldgate.points'],
  ['SELECT 1 # x\n; TRUNCATE TABLE fieldgate.points'],
  ['SELECT 1 /* /* nested */ ; */ ; TRUNCATE TABLE fieldgate.points'],
  ["SELECT $$'$$ INTO OUTFILE 'OUT' --'"],
  ['SELECT $a$ ; $a$; TRUNCATE TABLE fieldgate.points'],
  ['SELECT 1 SETTINGS readonly = 0'],
  ['SELECT * FROM (SELECT 1 SETTINGS readonly = 0)'],
  ['SELECT 1 FORMAT RawBLOB'],
  ["SELECT * FROM file('/etc/passwd', 'LineAsString')"],
  ["SELECT * FROM FILE ('/etc/passwd', 'LineAsString')"],
  ["SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')"],
  ["SELECT * FROM remote('127.0.0.1', system.one)"],
  ["SELECT * FROM input('a String')"],
  ["SELECT * FROM s3('http://127.0.0.1:1/x', 'CSV', 'a String')"],
  ["SELECT * FROM executable('ls', 'TSV', 'a String')"],
  ["EXPLAIN SELECT * FROM file('/etc/passwd', 'LineAsString')"],
  ['INSERT INTO fieldgate.points (device) VALUES (1)'],
  ['DROP TABLE fieldgate.points'],
  ['TRUNCATE TABLE fieldgate.points'],
  ['SET readonly = 0'],
  ['SYSTEM SHUTDOWN'],
  ['KILL QUERY WHERE 1'],
  ['ALTER TABLE fieldgate.points DELETE WHERE 1'],
  ['OPTIMIZE TABLE fieldgate.points FINAL'],
  ["SELECT 'unterminated"],
  ['SELECT 1', 'Template'],
  ['SELECT 1', 'CapnProto'],
];

describe('the query door refuses every escape, on both stores', () => {
  for (const store of ['embedded', 'server'] as const) {
    it(`${store}: ${ESCAPES.length} escape attempts refused, nothing written, legitimate queries still answered`, async () => {
      const g = await TestGateway.create(store === 'server' ? { clickhouse: { url: inject('clickhouseUrl'), database: 'fieldgate' } } : {});
      cleanups.push(() => g.stop('SIGKILL'));
      await g.start();
      await publishValues(g, 'door', 50);
      await g.drained();
      const out = join(tempDir('fg-door-'), 'owned');
      const refused: string[] = [];
      for (const [sql, format] of ESCAPES) {
        const r = await post(g, sql.replace('OUT', out), format);
        if (r.status === 400) refused.push(sql);
        else console.log(`${store}: NOT refused (${r.status}): ${sql} → ${r.text.slice(0, 200)}`);
      }
      expect(refused.length).toBe(ESCAPES.length);
      expect(existsSync(out)).toBe(false);
      expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'door'")).toBe('50');
      // Legitimate reads: a ';' inside a string, comments, SHOW, WITH, a chosen format.
      expect((await post(g, "SELECT ';' AS x -- a comment")).text).toBe(';\n');
      expect((await post(g, 'WITH 2 AS a SELECT a * 21 /* why not */')).text).toBe('42\n');
      expect((await post(g, 'SHOW TABLES FROM fieldgate')).text).toContain('points');
      expect((await post(g, "SELECT count() AS n FROM fieldgate.points WHERE device = 'door'", 'JSONEachRow')).text).toBe(
        '{"n":"50"}\n'.replace('"50"', store === 'server' ? '"50"' : '50'),
      );
      console.log(`query door (${store}): ${refused.length} of ${ESCAPES.length} escape attempts refused`);
    });
  }
});

describe('hostile payloads and connections', () => {
  it('a 900 KiB JSON payload of escapes after a big integer is rejected quickly; values behind it are stored', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const bad = `1234567890123456 "${'\\"'.repeat(450 * 1024)}`; // under the 1 MiB packet limit
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'evil-json', qos: 1 });
    await pub.connect();
    const t0 = Date.now();
    pub.publish('json/evil', bad, 1);
    pub.publish('plant/after/v', '7', 2);
    await waitFor('both PUBACKs', () => pub.pending.size === 0, 30_000, 10);
    pub.close();
    await waitFor('the value behind it', async () => (await g.query("SELECT count() FROM fieldgate.points WHERE device = 'after'")) === '1', 30_000, 100);
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(10_000); // about 7 minutes for this size with the quadratic regex
    expect(await g.metric('fieldgate_records_rejected_total{reason="bad_json"}')).toBe(1);
    console.log(`hostile JSON: 900 KiB of escapes rejected and the next value stored after ${ms} ms`);
  });

  it('a topic with ill-formed UTF-8 or U+0000 closes the connection and stores nothing', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    for (const topic of [
      Buffer.from([0x70, 0x6c, 0x61, 0x6e, 0x74, 0x2f, 0xc3, 0x28, 0x2f, 0x76]),
      Buffer.from('plant/\u0000x/v'),
      Buffer.from([0x70, 0x2f, 0xed, 0xa0, 0x80, 0x2f, 0x76]),
    ]) {
      const c = await rawConn(g.mqttPort, { clientId: 'utf8' }, cleanups);
      // mqtt-packet would re-encode a string topic: write the PUBLISH bytes by hand.
      const payload = Buffer.from('1');
      const head = Buffer.from([0x32, 2 + topic.length + 2 + payload.length, 0, topic.length]);
      c.s.write(Buffer.concat([head, topic, Buffer.from([0, 1]), payload]));
      await Promise.race([c.closed, sleep(5000)]);
      expect(c.isClosed()).toBe(true);
      expect(c.got.some((p) => p.cmd === 'puback')).toBe(false);
    }
    await publishValues(g, 'fine', 5);
    await g.drained();
    expect(await g.query('SELECT count() FROM fieldgate.points')).toBe('5');
    expect(await g.metric('fieldgate_broker_disconnects_total{reason="malformed_topic"}')).toBe(3);
  });

  it('a malformed topic on a Sparkplug route is counted, not dropped unseen', async () => {
    const g = await TestGateway.create({ routes: ['{ topic: "spBv1.0/#", format: sparkplug }'] });
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'sp-bad', qos: 1 });
    await pub.connect();
    pub.publish('spBv1.0/g1/NDATA', 'x', 1);
    pub.publish('spBv1.0/g1/NOPE/e1', 'x', 2);
    while (pub.pending.size > 0) await sleep(10);
    pub.close();
    await waitFor('the count', async () => (await g.metric('fieldgate_records_rejected_total{reason="bad_sparkplug"}')) === 2, 15_000, 100);
  });

  it('3 MB to POST /query gets 413; 2,000 slow HTTP connections neither lock out /healthz nor MQTT', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    // Five times: answering before the body was read made the client's write fail (EPIPE) in one
    // run of many; the body is now drained first.
    for (let i = 0; i < 5; i++) {
      const big = await fetch(`http://127.0.0.1:${g.httpPort}/query`, { method: 'POST', body: 'x'.repeat(3 * 1024 * 1024) });
      expect(big.status).toBe(413);
      expect(await big.text()).toMatch(/query too large/);
    }
    const slow: Socket[] = [];
    for (let i = 0; i < 2000; i++) {
      const s = connect(g.httpPort, '127.0.0.1');
      s.on('error', () => undefined);
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // headers never finished
      slow.push(s);
      if (i % 200 === 0) await sleep(5);
    }
    cleanups.push(() => Promise.resolve(slow.forEach((s) => s.destroy())));
    await sleep(500);
    const t0 = Date.now();
    const h = await fetch(`http://127.0.0.1:${g.httpPort}/healthz`);
    expect(h.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    await publishValues(g, 'during-flood', 20);
    await g.drained();
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'during-flood'")).toBe('20');
    expect(await g.metric('fieldgate_connections_refused_total{listener="http",reason="max_connections"}')).toBeGreaterThan(1000);
  });

  it('a YAML alias bomb sent with SIGHUP is refused without stalling the broker', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const levels = 'abcdefghi'.split('');
    const bomb =
      [
        'state_dir: ./x',
        `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`,
        ...levels.slice(1).map((l, i) => `${l}: &${l} [${Array(9).fill(`*${levels[i]}`).join(',')}]`),
      ].join('\n') + '\n';
    writeFileSync(g.config, bomb);
    let acked = 0;
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'during-bomb', qos: 1, onAck: () => acked++ });
    await pub.connect();
    g.signal('SIGHUP');
    let worstHealth = 0;
    for (let i = 0; i < 20; i++) {
      pub.publish('plant/bomb/v', String(i), i);
      const t0 = Date.now();
      expect((await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).status).toBe(200);
      worstHealth = Math.max(worstHealth, Date.now() - t0);
      await sleep(50);
    }
    while (pub.pending.size > 0) await sleep(10);
    pub.close();
    expect(acked).toBe(20);
    await g.waitForLog('the refusal', 'reload: refused', 15_000, 50);
    expect(g.logs).toMatch(/expands to more than 250000 values/);
    expect(worstHealth).toBeLessThan(500);
    console.log(`alias bomb on SIGHUP: refused; /healthz worst ${worstHealth} ms meanwhile, 20 of 20 PUBACKs`);
  });
});

describe('hostile files', () => {
  const run = (...args: string[]): { code: number | null; out: string } => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  it('configuration bombs, cycles and a huge file are refused with file:line:col and exit 3, quickly', () => {
    const dir = tempDir('fg-yaml-');
    const levels = 'abcdefghi'.split('');
    writeFileSync(
      join(dir, 'bomb.yaml'),
      [
        'state_dir: ./x',
        `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`,
        ...levels.slice(1).map((l, i) => `${l}: &${l} [${Array(9).fill(`*${levels[i]}`).join(',')}]`),
      ].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'cycle.yaml'), 'state_dir: ./x\nx: &x\n  y: *x\n');
    writeFileSync(join(dir, 'huge.yaml'), `state_dir: ./x\n# ${'x'.repeat(5 * 1024 * 1024)}\n`);
    writeFileSync(join(dir, 'deep.yaml'), `state_dir: ./x\nz: ${'['.repeat(100)}${']'.repeat(100)}\n`);
    const times: string[] = [];
    for (const [f, msg] of [
      ['bomb.yaml', /bomb\.yaml:\d+:\d+: .*expands to more than 250000 values/],
      ['cycle.yaml', /cycle\.yaml:3:6: .*refers to a node that contains it/],
      ['huge.yaml', /huge\.yaml:1:1: the file has \d+ bytes; expected at most 4194304/],
      ['deep.yaml', /deep\.yaml:\d+:\d+: .*nested deeper than 40 levels/],
    ] as const) {
      const t0 = Date.now();
      const r = run('validate', '-c', join(dir, f));
      times.push(`${f} ${Date.now() - t0} ms`);
      expect(r.code, r.out).toBe(3);
      expect(r.out).toMatch(msg);
      expect(Date.now() - t0).toBeLessThan(10_000);
    }
    console.log(`config refusals: ${times.join(', ')}`);
  });

  it('a state_dir that is a file, or on a read-only filesystem, gets one clear message and exit 3', () => {
    const dir = tempDir('fg-sd-');
    writeFileSync(join(dir, 'afile'), 'x');
    writeFileSync(join(dir, 'c.yaml'), `state_dir: ${join(dir, 'afile')}\n`);
    const v = run('validate', '-c', join(dir, 'c.yaml'));
    expect(v.code).toBe(3);
    expect(v.out).toMatch(/c\.yaml:1:12: state_dir: .*afile is a file; expected a folder/);
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', ro]);
    try {
      writeFileSync(join(dir, 'ro.yaml'), `state_dir: ${ro}\nhttp: { bind: "127.0.0.1:0" }\nbroker: { listeners: [ { type: tcp, bind: "127.0.0.1:0" } ] }\n`);
      const r = run('run', '-c', join(dir, 'ro.yaml'));
      expect(r.code).toBe(3);
      expect(r.out).toContain(`state_dir ${ro} is not writable: the filesystem is read-only`);
      expect(r.out).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      execFileSync('umount', [ro]);
    }
  });
});

describe('a Sparkplug birth storm', () => {
  it('600 NBIRTHs of 200 metrics each do not hold back QoS 1 values or /healthz', async () => {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const sp = (require('sparkplug-payload') as { get(ns: string): { encodePayload(p: unknown): Uint8Array } }).get('spBv1.0');
    const g = await TestGateway.create({ routes: ['{ topic: "spBv1.0/#", format: sparkplug }'] });
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const metrics = Array.from({ length: 200 }, (_, i) => ({ name: `line/metric_with_a_long_name_${i}`, alias: i, type: 'Double', value: i }));
    const births = Array.from({ length: 600 }, (_, n) => ({
      topic: `spBv1.0/plant/NBIRTH/edge${n}`,
      body: Buffer.from(sp.encodePayload({ timestamp: Date.now(), seq: 0, metrics })),
    }));
    const storm = new RawPublisher({ port: g.mqttPort, clientId: 'storm', qos: 0 });
    await storm.connect();
    const values = new RawPublisher({ port: g.mqttPort, clientId: 'values', qos: 1, inflight: 100 });
    await values.connect();
    const t0 = Date.now();
    for (const b of births) storm.publish(b.topic, b.body);
    let worstHealth = 0;
    const health = (async () => {
      while (Date.now() - t0 < 3000) {
        const h0 = Date.now();
        await fetch(`http://127.0.0.1:${g.httpPort}/healthz`);
        worstHealth = Math.max(worstHealth, Date.now() - h0);
        await sleep(100);
      }
    })();
    for (let i = 0; i < 3000; i++) {
      await values.room();
      values.publish('plant/storm/v', String(i), i);
    }
    await waitFor('3,000 PUBACKs', () => values.pending.size === 0, 60_000, 10);
    const ms = Date.now() - t0;
    await health;
    values.close();
    storm.close();
    await g.drained();
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'storm'")).toBe('3000');
    expect(ms).toBeLessThan(5000); // 21 s when births.json was rewritten per birth
    expect(worstHealth).toBeLessThan(1000);
    // The tables are on disk, one file per edge node.
    await waitFor(
      'the birth files',
      () => existsSync(join(g.stateDir, 'sparkplug', 'births')) && readdirSync(join(g.stateDir, 'sparkplug', 'births')).length === 600,
      10_000,
      100,
    );
    console.log(`birth storm: 600 NBIRTH × 200 metrics beside 3,000 QoS 1 values: acknowledged in ${ms} ms, /healthz worst ${worstHealth} ms`);
  });
});

describe('running out of file descriptors', () => {
  it('is logged and counted; the gateway survives and serves again once connections go', async () => {
    // The gateway under a limit of 400 descriptors (chDB, workers and the journal use ~150). The
    // connections never send CONNECT; a connect_timeout longer than the wait keeps them (and the
    // shortage) until the test closes them, so no clock but the watch's decides the outcome.
    const g = await TestGateway.create({ node: ['prlimit', '--nofile=400:400', process.execPath], brokerYaml: 'limits: { connect_timeout: 60s }' });
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const socks: Socket[] = [];
    for (let i = 0; i < 600; i++) {
      const s = connect(g.mqttPort, '127.0.0.1');
      s.on('error', () => undefined);
      socks.push(s);
      if (i % 100 === 0) await sleep(20);
    }
    await g.waitForLog('running out to be logged', 'out of file descriptors', 15_000, 100);
    for (const s of socks) s.destroy();
    await sleep(500);
    expect(g.alive).toBe(true);
    expect(await g.metric('fieldgate_fd_exhausted_total')).toBeGreaterThan(0);
    await publishValues(g, 'after-emfile', 10);
    await g.drained();
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'after-emfile'")).toBe('10');
  });
});
