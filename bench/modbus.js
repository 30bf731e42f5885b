// Modbus polling benchmark: 500 simulated devices × 30 tags at 1 s (Neuron's
// published case: 15,000 tags/s at 124 % CPU on 4 cores), half the values
// changing every second, into chDB.
//
//   node bench/modbus.js            30 s measured
//   node bench/modbus.js --short    10 s measured
//
// Prints the gateway's CPU share of one core, poll jitter p99 (from the rows'
// timestamps of the changing tags) and rows/s into the store. Target: under
// 40 % of one core.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, startGateway } from './lib/gateway.mjs';
import { cpuSeconds, sleep } from './lib/proc.mjs';

const SHORT = process.argv.includes('--short');
const SECONDS = SHORT ? 10 : 30;
const DEVICES = 500;
const TAGS = 30;
const FARMS = 2;
const FIRST_PORT = 21000;
const TARGET = 0.4;

const farms = [];
for (let f = 0; f < FARMS; f++) {
  const per = DEVICES / FARMS;
  const p = fork(join(ROOT, 'bench/lib/modbus-farm.mjs'), [String(FIRST_PORT + f * per), String(per)], { stdio: 'inherit' });
  farms.push(p);
  await new Promise((res) => p.once('message', res));
}

const tags = Array.from({ length: TAGS }, (_, a) => `        - { name: r${a}, table: holding, address: ${a} }`).join('\n');
const devices = Array.from(
  { length: DEVICES },
  (_, i) => `    - name: dev${i}\n      transport: { type: tcp, host: 127.0.0.1, port: ${FIRST_PORT + i} }\n      poll_interval: 1s\n      tags:\n${tags}`,
).join('\n');
const gw = await startGateway('fg-mbbench-', `modbus:\n  devices:\n${devices}\n`);
const query = gw.query;
for (;;) {
  try {
    if (Number(await query('SELECT uniqExact(device) FROM fieldgate.points')) === DEVICES) break;
  } catch {}
  await sleep(500);
}
await sleep(3000); // every link up, schedules settled
const c0 = cpuSeconds(gw.proc.pid);
const t0 = Date.now();
await sleep(SECONDS * 1000);
const share = (cpuSeconds(gw.proc.pid) - c0) / SECONDS;
const t1 = Date.now();
await sleep(2500); // the last chunk reaches the store
const rows = Number(await query(`SELECT count() FROM fieldgate.points WHERE ts >= fromUnixTimestamp64Milli(${t0}) AND ts < fromUnixTimestamp64Milli(${t1})`));
const jitter = await query(
  `SELECT quantile(0.99)(abs(d - 1000)), max(abs(d - 1000)) FROM (SELECT toUnixTimestamp64Milli(ts) - lagInFrame(toUnixTimestamp64Milli(ts)) OVER (PARTITION BY device, tag ORDER BY ts) AS d, row_number() OVER (PARTITION BY device, tag ORDER BY ts) AS n FROM fieldgate.points WHERE tag = 'r0' AND quality = 0 AND ts >= fromUnixTimestamp64Milli(${t0}) AND ts < fromUnixTimestamp64Milli(${t1})) WHERE n > 1`,
);
const skippedTotal = await gw.metric('fieldgate_modbus_polls_skipped_total');
await gw.stop();
for (const f of farms) f.kill('SIGKILL');
const [p99, max] = jitter.split('\t').map(Number);
console.log(`modbus benchmark: ${DEVICES} devices × ${TAGS} tags at 1 s (${DEVICES * TAGS} tags/s), ${SECONDS} s measured`);
console.log(`  gateway CPU: ${(share * 100).toFixed(1)} % of one core (target < ${TARGET * 100} %)`);
console.log(`  poll jitter: p99 ${p99} ms, max ${max} ms; skipped poll cycles ${skippedTotal}`);
console.log(
  '  (jitter from the gaps between rows of a tag that changes every second; a poll that lands on the tick reads the old value and makes one 2 s gap, which shows in max)',
);
console.log(`  rows into the store: ${Math.round(rows / ((t1 - t0) / 1000))} rows/s (changing values only; ${DEVICES * 15} change each second)`);
if (share > TARGET * 2) {
  console.log('FAIL: more than twice the CPU target');
  process.exit(1);
}
