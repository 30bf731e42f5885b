import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { BIN, ROOT, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';

function fieldgate(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('fieldgate CLI', () => {
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.stop();
  });

  it('prints its version and help; a bad command is a usage error', () => {
    expect(fieldgate('--version')).toMatchObject({ code: 0, out: '0.1.0\n' });
    expect(fieldgate('--help').out).toContain('fieldgate run -c FILE');
    expect(fieldgate('frobnicate').code).toBe(2);
    expect(fieldgate('validate').code).toBe(2);
  });

  it('validate: exit 0 for a good file, 3 with file:line:col for a bad one, and no side effects', () => {
    const dir = tempDir();
    const good = join(dir, 'good.yaml');
    writeFileSync(good, `state_dir: ${join(dir, 'state')}\n`);
    expect(fieldgate('validate', '-c', good)).toMatchObject({ code: 0, out: `ok: ${good}\n` });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'state_dir: ./s\nclickhouse:\n  url: ftp://x\n');
    const r = fieldgate('validate', '-c', bad);
    expect(r.code).toBe(3);
    expect(r.err).toBe(
      `configuration is invalid:\n${bad}:3:8: clickhouse.url: got "ftp://x", expected an http:// or https:// URL such as http://127.0.0.1:8123\n`,
    );
    expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort()).toEqual(['bad.yaml', 'good.yaml']);
    expect(fieldgate('validate', '-c', join(dir, 'missing.yaml')).code).toBe(3);
  });

  it('ddl prints what the embedded store would run', () => {
    const dir = tempDir();
    const f = join(dir, 'c.yaml');
    writeFileSync(f, `state_dir: ${join(dir, 'state')}\nclickhouse: { ttl: 90d }\n`);
    const r = fieldgate('ddl', '-c', f);
    expect(r.code).toBe(0);
    expect(r.out).toContain('CREATE TABLE IF NOT EXISTS `fieldgate`.`points`');
    expect(r.out).toContain('TTL toDateTime(ts) + INTERVAL 90 DAY');
  });

  it('refuses a second instance on the same state_dir; query works through the gateway and without it', async () => {
    const g = await TestGateway.create();
    gateways.push(g);
    await g.start();
    const second = fieldgate('run', '-c', g.config);
    expect(second.code).toBe(4);
    expect(second.err).toMatch(/state_dir .* is in use by fieldgate \(pid \d+ on .* since .*\); stop it first/);
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'cli', qos: 1 });
    await pub.connect();
    pub.publish('plant/press1/hydraulic/pressure', '181.5');
    pub.publish('json/press1', '{"temp":41.2,"rpm":1200}');
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    pub.close();
    await g.drained();
    const sql = "SELECT device, tag, value FROM fieldgate.points WHERE device = 'press1' ORDER BY tag";
    const want = 'press1\thydraulic/pressure\t181.5\npress1\trpm\t1200\npress1\ttemp\t41.2\n';
    expect(fieldgate('query', '-c', g.config, sql)).toMatchObject({ code: 0, out: want });
    expect(fieldgate('query', '-c', g.config, '--format', 'JSONEachRow', 'SELECT count() AS n FROM fieldgate.points').out).toBe('{"n":3}\n');
    const refused = fieldgate('query', '-c', g.config, 'DROP TABLE fieldgate.points');
    expect(refused.code).toBe(5);
    expect(refused.err).toContain('only SELECT, WITH, SHOW, DESCRIBE, EXISTS and EXPLAIN');
    expect(await g.stop()).toBe(0);
    expect(fieldgate('query', '-c', g.config, sql)).toMatchObject({ code: 0, out: want });
  });
});
