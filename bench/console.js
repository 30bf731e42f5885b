// The web console's figures:
//   1. its assets (gzip) as served;
//   2. the gateway's RSS with the demo plant, without and then with one headless Chromium page
//      open on the live overview (SSE) for a while;
//   3. page load in headless Chromium: navigation to the overview drawn with its parts;
//   4. a 30-day tag chart from the hourly rollup vs the same buckets from the raw rows, on a store
//      holding 30 days of one value per 5 s for 4 tags (2.07M rows; --short: 2 tags, 1.04M).
// Guard (exit 1): the rollup chart is not at least 3× faster than the raw one (each query through
// chDB costs ~10 ms however small: parsing, normalising, then running it).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, startDemo } from './lib/console.mjs';
import { startGateway } from './lib/gateway.mjs';
import { sleep } from './lib/proc.mjs';
import { RawPublisher } from './lib/raw-mqtt.mjs';

const SHORT = process.argv.includes('--short');
const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// 1-3: the demo plant.
const demo = await startDemo({ dir: mkdtempSync(join(tmpdir(), 'fg-bench-console-')) });
let assets = 0;
for (const p of ['/', '/assets/app.js', '/assets/app.css', '/assets/uplot.js', '/assets/uplot.css', '/assets/favicon.svg']) {
  const r = await fetch(demo.url + p, { headers: { 'accept-encoding': 'gzip' } });
  assets += Number(r.headers.get('content-length'));
}
const HOLD = SHORT ? 10_000 : 30_000;
await sleep(5000);
const samples = async (ms) => {
  const out = [];
  for (let t = 0; t < ms; t += 1000) {
    out.push(rss(demo.proc.pid));
    await sleep(1000);
  }
  return out.reduce((a, b) => a + b, 0) / out.length;
};
const without = await samples(HOLD);
const browser = await launchBrowser();
const page = await browser.newPage();
const t0 = performance.now();
await page.goto(`${demo.url}/`);
const loaded = performance.now() - t0;
await page.waitForSelector('#parts tbody tr');
const drawn = performance.now() - t0;
const withPage = await samples(HOLD);
await browser.close();
await demo.stop();

// 4: a long history, then the same chart from the rollup and from the raw rows.
const DAYS = 30;
const g = await startGateway('fg-bench-chart-', 'batch: { max_delay: 100ms }\nmqtt: { routes: [ { topic: "json/{device}", format: json } ] }\n');
const pub = new RawPublisher({ port: g.mqttPort, clientId: 'history', qos: 1, inflight: 200 });
await pub.connect();
const now = Date.now();
const from = now - DAYS * 86_400_000 + 3_600_000;
const STEP = 5000;
let rows = 0;
for (let t = from; t < now; t += STEP * 250) {
  const items = [];
  for (let k = 0; k < 250 && t + k * STEP < now; k++)
    for (const tag of SHORT ? ['temp', 'power'] : ['temp', 'pressure', 'speed', 'power'])
      items.push({ tag, ts: t + k * STEP, value: Math.sin((t + k * STEP) / 3.6e6) * 10 + tag.length });
  rows += items.length;
  await pub.room();
  pub.publish('json/line1', JSON.stringify(items));
}
while (pub.pending.size > 0) await sleep(20);
pub.close();
for (;;) {
  if (Number(await g.query('SELECT count() FROM fieldgate.points')) >= rows) break;
  await sleep(500);
}
const url = g.url;
const time = async (raw) => {
  const ts = [];
  let r;
  for (let i = 0; i < 5; i++) {
    r = await (await fetch(`${url}/api/series?device=line1&tag=temp&range=${DAYS}d${raw ? '&raw=1' : ''}`)).json();
    ts.push(r.query_ms);
  }
  ts.sort((a, b) => a - b);
  return { ms: ts[2], source: r.source, points: r.data.length };
};
const fromRollup = await time(false);
const fromRaw = await time(true);
await g.stop();

console.log(`console assets: ${assets} bytes gzip`);
console.log(
  `gateway RSS with the demo plant: ${without.toFixed(0)} MiB without a page, ${withPage.toFixed(0)} MiB with one page open (${(withPage - without).toFixed(0)} MiB added)`,
);
console.log(`page load in headless Chromium: load ${loaded.toFixed(0)} ms, overview drawn ${drawn.toFixed(0)} ms`);
console.log(
  `${DAYS}-day chart over ${rows} rows: ${fromRollup.ms} ms from ${fromRollup.source} (${fromRollup.points} points), ${fromRaw.ms} ms from ${fromRaw.source} (${fromRaw.points} points): ${(fromRaw.ms / Math.max(1, fromRollup.ms)).toFixed(1)}×`,
);
if (fromRaw.ms < 3 * Math.max(1, fromRollup.ms)) {
  console.error('FAIL: the rollup chart is not 3× faster than the raw one');
  process.exit(1);
}
