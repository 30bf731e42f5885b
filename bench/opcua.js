// OPC UA subscription benchmark: 10,000 monitored items at 1 s sampling, half of
// them changing every second, from a node-opcua server in its own process into
// chDB.
//
//   node bench/opcua.js            30 s measured
//   node bench/opcua.js --short    10 s measured
//
// Prints the gateway's CPU share of one core (the embedded store's inserts
// included) and rows/s into the store. Target: under 25 % of one core.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startGateway } from './lib/gateway.mjs';
import { cpuSeconds, freePort, sleep } from './lib/proc.mjs';

const SHORT = process.argv.includes('--short');
const SECONDS = SHORT ? 10 : 30;
const ITEMS = 10_000;
const TARGET = 0.25;
const NS = 'urn:fieldgate:test';

const dir = mkdtempSync(join(tmpdir(), 'fg-uabench-'));
const variables = Array.from({ length: ITEMS }, (_, i) => ({ name: `V${i}`, type: 'Double', value: i, moving: i % 2 === 0 }));
writeFileSync(join(dir, 'spec.json'), JSON.stringify({ pki: join(dir, 'server-pki'), tickMs: 1000, variables }));
const uaPort = await freePort();
const server = fork(join(ROOT, 'bench/lib/opcua-server.mjs'), [String(uaPort), join(dir, 'spec.json')], { stdio: 'inherit' });
await new Promise((res) => server.once('message', res));

const nodes = variables.map((v) => `        - { node_id: "nsu=${NS};s=Line3.${v.name}", tag: v${v.name.slice(1)} }`).join('\n');
const gw = await startGateway(
  'fg-uabench-gw-',
  `opcua:\n  servers:\n    - name: line3\n      endpoint: opc.tcp://127.0.0.1:${uaPort}\n      security: { mode: None }\n      publishing_interval: 1s\n      nodes:\n${nodes}\n`,
);
const { query, metric } = gw;
const t00 = Date.now();
for (;;) {
  try {
    if ((await metric('fieldgate_opcua_monitored_items')) === ITEMS && Number(await query('SELECT uniqExact(tag) FROM fieldgate.points')) === ITEMS) break;
  } catch {}
  if (Date.now() - t00 > 180_000) {
    console.log('FAIL: the items were not all monitored within 180 s');
    process.exit(1);
  }
  await sleep(500);
}
const ready = (Date.now() - t00) / 1000;
await sleep(3000); // initial values stored, publishing settled
const c0 = cpuSeconds(gw.proc.pid);
const s0 = cpuSeconds(server.pid);
const t0 = Date.now();
await sleep(SECONDS * 1000);
const share = (cpuSeconds(gw.proc.pid) - c0) / SECONDS;
const serverShare = (cpuSeconds(server.pid) - s0) / SECONDS;
const t1 = Date.now();
await sleep(2500); // the last chunk reaches the store
const rows = Number(
  await query(`SELECT count() FROM fieldgate.points WHERE quality = 0 AND ts >= fromUnixTimestamp64Milli(${t0}) AND ts < fromUnixTimestamp64Milli(${t1})`),
);
await gw.stop();
server.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
console.log(`opcua benchmark: ${ITEMS} monitored items at 1 s sampling, half changing every second, ${SECONDS} s measured`);
console.log(`  all items monitored and first values stored after ${ready.toFixed(1)} s`);
console.log(`  gateway CPU: ${(share * 100).toFixed(1)} % of one core (target < ${TARGET * 100} %); the server process: ${(serverShare * 100).toFixed(1)} %`);
console.log(`  rows into the store: ${Math.round(rows / ((t1 - t0) / 1000))} rows/s (changing values only; ${ITEMS / 2} change each second)`);
if (share > TARGET * 2) {
  console.log('FAIL: more than twice the CPU target');
  process.exit(1);
}
