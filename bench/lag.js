// Latency at a held load: publish-to-queryable when the gateway runs below its capacity, and
// pushback (batch.max_lag) when it is driven past it. For each shape (single values; JSON arrays
// of 100) it first measures capacity (flat out, 4 connections: points stored per second until the
// last one is queryable), then holds a paced load at a share of it and probes latency with a marker
// every 200 ms (publish, then poll until queryable).
//
//   node bench/lag.js           60 s at 80 % of capacity per shape, single values also at 50 %
//   node bench/lag.js --short   15 s each
//
// Prints capacity, the rate held, p50/p99/max latency, the backlog left when the load stops, and the
// time pushback held publishers back. Figures only, no guard (latency on a shared 2-core machine is
// noisy); the targets are the issue's: p99 ≤ 3 s at 80 % for arrays, ≤ max_delay + 0.5 s at 50 % for
// single values.
import { startGateway } from './lib/gateway.mjs';
import { sleep } from './lib/proc.mjs';
import { RawPublisher, connectPublishers, encodePublish, floodUntil } from './lib/raw-mqtt.mjs';

const SHORT = process.argv.includes('--short');
const HOLD_SECONDS = SHORT ? 15 : 60;
const CAPACITY_SECONDS = SHORT ? 5 : 10;
const CONNECTIONS = 4;
const INFLIGHT = 1000;
const MAX_DELAY_MS = 1000;

const arrayBody = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ tag: `t${i}`, value: i * 1.5 })));
const SHAPES = [
  { label: 'JSON array of 100', template: encodePublish('json/load', arrayBody, 1, 1), points: 100, shares: [0.8] },
  { label: 'single value', template: encodePublish('plant/load/line/speed', '1234.5', 1, 1), points: 1, shares: [0.8, 0.5] },
];

// count() of a whole table comes from the parts' metadata; with a WHERE it reads every row, and a poll
// every 50 ms of that competes with the inserts it waits for. The capacity run has no probes yet, and
// probes only grow, so subtracting them keeps the count low, never high.
const stored = async (g) =>
  Number(await g.query('SELECT count() FROM fieldgate.points')) - Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'probe'"));

/**
 * Waits until the capacity run has left no work behind: the journal drained and no merge of its
 * parts running (a flat-out run leaves merges of millions of rows that would otherwise compete with
 * the held load's first seconds). Returns the seconds it took, at most `limit`.
 */
async function settle(g, limit = 60) {
  const t0 = performance.now();
  while (performance.now() - t0 < limit * 1000) {
    const merging = Number(await g.query('SELECT count() FROM system.merges'));
    const lag = await g.metric('fieldgate_sink_lag_bytes');
    if (merging === 0 && lag === 0) break;
    await sleep(200);
  }
  return (performance.now() - t0) / 1000;
}

/** Flat out for CAPACITY_SECONDS; points stored per second, counted until the last one is queryable. */
async function capacity(g, shape) {
  const before = await stored(g);
  const pubs = await connectPublishers(g.mqttPort, CONNECTIONS, 'cap', INFLIGHT);
  const t0 = performance.now();
  await floodUntil(pubs, shape.template, t0 + CAPACITY_SECONDS * 1000);
  const want = before + pubs.reduce((a, p) => a + p.acked, 0) * shape.points;
  for (const p of pubs) p.close();
  while ((await stored(g)) < want) await sleep(50);
  return ((want - before) / (performance.now() - t0)) * 1000;
}

/** A paced load of `rate` points/s for HOLD_SECONDS with latency probes. */
async function hold(g, shape, rate) {
  const pubs = await connectPublishers(g.mqttPort, CONNECTIONS, 'hold', INFLIGHT);
  const probe = new RawPublisher({ port: g.mqttPort, clientId: `probe-${Date.now()}`, qos: 1 });
  await probe.connect();
  const held0 = await g.metric('fieldgate_broker_pushback_seconds_total');
  const msgRate = rate / shape.points;
  const t0 = performance.now();
  const until = t0 + HOLD_SECONDS * 1000;
  let sent = 0;
  let short = 0;
  const load = (async () => {
    while (performance.now() < until) {
      const due = Math.floor(((performance.now() - t0) * msgRate) / 1000) - sent;
      for (let i = 0; i < CONNECTIONS && due > 0; i++) {
        const p = pubs[(sent + i) % CONNECTIONS];
        const n = Math.min(Math.ceil(due / CONNECTIONS), INFLIGHT - p.pending.size);
        if (n > 0) {
          p.publishBatch(shape.template, n);
          sent += n;
        }
      }
      await sleep(5);
    }
    short = Math.max(0, Math.floor(HOLD_SECONDS * msgRate - sent));
  })();
  const latencies = [];
  const probes = (async () => {
    for (let i = 0; performance.now() < until; i++) {
      const t = performance.now();
      const tag = `m${Date.now()}x${i}`;
      probe.publish(`plant/probe/${tag}`, '1');
      while ((await g.query(`SELECT count() FROM fieldgate.points WHERE device = 'probe' AND tag = '${tag}'`)) !== '1') await sleep(20);
      latencies.push(performance.now() - t);
      await sleep(Math.max(0, 200 - (performance.now() - t)));
    }
  })();
  await Promise.all([load, probes]);
  const backlog = Number((await g.metrics()).match(/^fieldgate_sink_lag_seconds\{[^}]*\} (\S+)/m)?.[1] ?? 'NaN');
  for (const p of pubs) while (p.pending.size > 0) await sleep(5);
  for (const p of [...pubs, probe]) p.close();
  latencies.sort((a, b) => a - b);
  const q = (x) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(x * latencies.length))]);
  return {
    held: (await g.metric('fieldgate_broker_pushback_seconds_total')) - held0,
    p50: q(0.5),
    p99: q(0.99),
    max: q(1),
    probes: latencies.length,
    backlog,
    shortBy: short / Math.max(1, HOLD_SECONDS * msgRate),
  };
}

function row(cells) {
  return cells.map((c, i) => String(c).padStart(i === 0 ? 24 : 14)).join('');
}

console.log(
  `fieldgate latency at a held load: ${HOLD_SECONDS} s per load, capacity from ${CAPACITY_SECONDS} s flat out, batch.max_delay ${MAX_DELAY_MS} ms, max_lag default (5 s)`,
);
const results = [];
for (const shape of SHAPES) {
  const g = await startGateway(
    'fg-bench-lag-',
    `mqtt:\n  routes:\n    - { topic: "plant/{device}/{tag+}", format: number }\n    - { topic: "json/{device}", format: json }\nbatch: { max_delay: ${MAX_DELAY_MS}ms }\n`,
  );
  try {
    for (;;) {
      const r = await g.readyz().catch(() => undefined);
      if (r?.sinks?.[0]?.state === 'connected') break;
      await sleep(100);
    }
    const cap = await capacity(g, shape);
    for (const share of shape.shares) {
      const settled = await settle(g);
      const r = await hold(g, shape, cap * share);
      results.push({ shape: shape.label, cap, share, settled, ...r });
    }
  } finally {
    await g.stop();
  }
}
console.log(row(['', 'capacity pts/s', 'held at', 'p50 ms', 'p99 ms', 'max ms', 'probes', 'lag at end s', 'pushback s', 'settled in s']));
for (const r of results)
  console.log(
    row([
      r.shape,
      Math.round(r.cap),
      `${Math.round(r.share * 100)} %${r.shortBy > 0.02 ? ` (−${Math.round(r.shortBy * 100)} %)` : ''}`,
      r.p50,
      r.p99,
      r.max,
      r.probes,
      r.backlog.toFixed(1),
      r.held.toFixed(1),
      r.settled.toFixed(1),
    ]),
  );
