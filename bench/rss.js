// Memory under load: QoS 1 single values at 50,000 msg/s for 20 s (8 s with
// --short) into the gateway, once with the HTTP sink (Debian's clickhouse-server)
// and once with the embedded store; prints each gateway's peak RSS (VmHWM).
// Target: under 250 MB with the HTTP sink; chDB is reported separately.
import { ClickHouseServer } from './lib/clickhouse-server.mjs';
import { startGateway } from './lib/gateway.mjs';
import { peakRss, sleep } from './lib/proc.mjs';
import { RawPublisher } from './lib/raw-mqtt.mjs';

const SECONDS = process.argv.includes('--short') ? 8 : 20;
const RATE = 50_000;
const TARGET_MB = 250;

async function run(label, clickhouse) {
  const gw = await startGateway(
    'fg-rss-',
    `mqtt: { routes: [ { topic: "plant/{device}/{tag+}", format: number } ] }\n${clickhouse ? `clickhouse: { url: "${clickhouse}", database: fg_rss }\n` : ''}`,
  );
  const mqtt = gw.mqttPort;
  for (;;) {
    try {
      if ((await gw.readyz()).sinks[0]?.state === 'connected') break;
    } catch {}
    await sleep(100);
  }
  const idle = peakRss(gw.proc.pid);
  const pubs = [];
  for (let i = 0; i < 4; i++) {
    const p = new RawPublisher({ port: mqtt, clientId: `rss-${i}`, qos: 1, inflight: 2000 });
    await p.connect();
    pubs.push(p);
  }
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
    // Each connection keeps at most its 2,000 in flight (a gateway that falls behind slows the
    // generator instead of running it out of message ids).
    while (sent < due) {
      const p = pubs[sent % 4];
      if (p.pending.size >= 2000) break;
      p.publish(`plant/rss${sent % 50}/v`, String(sent), sent++);
    }
    await sleep(5);
  }
  while (pubs.some((p) => p.pending.size > 0)) await sleep(10);
  const acked = pubs.reduce((a, p) => a + p.acked, 0);
  for (const p of pubs) p.close();
  const rate = acked / ((Date.now() - t0) / 1000);
  await sleep(2000);
  const peak = peakRss(gw.proc.pid);
  await gw.stop();
  console.log(`${label.padEnd(28)} ${Math.round(rate)} msg/s acknowledged, RSS idle ${(idle / 1e6).toFixed(0)} MB, peak ${(peak / 1e6).toFixed(0)} MB`);
  return peak;
}

console.log(`fieldgate memory benchmark: QoS 1 at ${RATE} msg/s for ${SECONDS} s`);
const server = await ClickHouseServer.create();
let httpPeak;
try {
  httpPeak = await run('HTTP sink (clickhouse-server)', server.url);
} finally {
  await server.stop();
}
await run('embedded chDB', undefined);
console.log(`HTTP sink peak RSS ${(httpPeak / 1e6).toFixed(0)} MB (target < ${TARGET_MB} MB)`);
if (httpPeak > 2 * TARGET_MB * 1e6) {
  console.log('FAIL: more than twice the memory target');
  process.exit(1);
}
