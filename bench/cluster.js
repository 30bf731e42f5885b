// Sinks into ClickHouse servers (Debian's clickhouse-server 18.16 on loopback), measured in one run:
//   1. insert throughput, JSON arrays of 100 points: into one server, and into a cluster of one
//      shard × two replicas (ZooKeeper, ReplicatedMergeTree behind a Distributed table);
//   2. the CPU cost of a second sink: gateway CPU per point with the server sink alone, and with
//      the server and the cluster as two sinks;
//   3. the failover gap: the replica taking inserts is SIGKILLed under load; the time until the
//      next insert lands on the other replica.
// Figures only, no guard: `npm run bench` prints them for the closing notes and docs/scale.md.
import { ClickHouseServer } from './lib/clickhouse-server.mjs';
import { ClickHouseCluster } from './lib/cluster.mjs';
import { startGateway } from './lib/gateway.mjs';
import { cpuSeconds, sleep } from './lib/proc.mjs';
import { RawPublisher } from './lib/raw-mqtt.mjs';

const SHORT = process.argv.includes('--short');
const MESSAGES = SHORT ? 1_000 : 4_000;
const POINTS = 100;
const body = JSON.stringify(Array.from({ length: POINTS }, (_, i) => ({ tag: `t${i}`, value: i * 1.5 })));
const ROUTES =
  'mqtt:\n  routes:\n    - { topic: "plant/{device}/{tag+}", format: number }\n    - { topic: "json/{device}", format: json }\nworkers: { threads: 1 }\n';

const count = async (url, table, device) =>
  Number((await (await fetch(`${url}/`, { method: 'POST', body: `SELECT count() FROM fieldgate.${table} WHERE device = '${device}'` })).text()).trim());

async function publish(port, device, n) {
  const pub = new RawPublisher({ port, clientId: `cl-bench-${device}`, qos: 1, inflight: 200 });
  await pub.connect();
  for (let i = 0; i < n; i++) {
    await pub.room();
    pub.publish(`json/${device}`, body);
  }
  while (pub.pending.size > 0) await sleep(5);
  pub.close();
}

/** Publishes MESSAGES arrays and waits until every store in `stores` holds them: points/s and gateway CPU µs per point. */
async function run(label, sinks, stores) {
  const g = await startGateway('fg-cl-bench-', `${ROUTES}sinks:\n${sinks.map((l) => `  ${l}`).join('\n')}\n`);
  for (;;) {
    const r = await g.readyz();
    if (r.sinks.every((s) => s.state === 'connected')) break;
    await sleep(50);
  }
  const device = `b${Date.now()}`;
  const cpu0 = cpuSeconds(g.proc.pid);
  const t0 = performance.now();
  await publish(g.mqttPort, device, MESSAGES);
  const want = MESSAGES * POINTS;
  for (const s of stores) while ((await count(s.url, s.table, device)) < want) await sleep(20);
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(g.proc.pid) - cpu0;
  await g.stop();
  const r = { label, pointsPerS: want / secs, cpuUsPerPoint: (cpu * 1e6) / want };
  console.log(
    `  ${label.padEnd(44)} ${Math.round(r.pointsPerS).toLocaleString('en-US').padStart(10)} points/s stored  ${r.cpuUsPerPoint.toFixed(2).padStart(6)} µs CPU/point`,
  );
  return r;
}

const server = await ClickHouseServer.create();
const cluster = await ClickHouseCluster.create({ shards: 1, replicas: 2 });
try {
  const one = `- { name: server, clickhouse: { url: "${server.url}" } }`;
  const clus = `- { name: central, clickhouse: { urls: [ ${cluster.urls.map((u) => `"${u}"`).join(', ')} ], cluster: plant, retry_initial: 100ms, retry_max: 1s, request_timeout: 5s } }`;
  console.log(`sinks into ClickHouse 18.16 on loopback: ${MESSAGES.toLocaleString('en-US')} JSON arrays of ${POINTS} (QoS 1)`);
  // Tables first, so that no run pays for DDL.
  await run(
    'warm-up (both)',
    [one, clus],
    [
      { url: server.url, table: 'points' },
      { url: cluster.urls[1], table: 'points' },
    ],
  );
  const a = await run('one server', [one], [{ url: server.url, table: 'points' }]);
  const b = await run('cluster, 1 shard × 2 replicas', [clus], [{ url: cluster.urls[1], table: 'points' }]);
  const c = await run(
    'two sinks: the server and the cluster',
    [one, clus],
    [
      { url: server.url, table: 'points' },
      { url: cluster.urls[1], table: 'points' },
    ],
  );
  console.log(
    `  cluster / one server: ${(b.pointsPerS / a.pointsPerS).toFixed(2)}× the throughput; a second sink costs ${(c.cpuUsPerPoint - a.cpuUsPerPoint).toFixed(2)} µs CPU/point (${((c.cpuUsPerPoint / a.cpuUsPerPoint - 1) * 100).toFixed(0)} %)`,
  );

  // Failover gap: inserts go to the first replica; it dies; how long until the next one lands on the second.
  const g = await startGateway('fg-cl-bench-', `${ROUTES}batch: { max_delay: 50ms }\nsinks:\n  ${clus}\n`);
  const pub = new RawPublisher({ port: g.mqttPort, clientId: 'cl-bench-fo', qos: 1, inflight: 100 });
  await pub.connect();
  let stop = false;
  const feed = (async () => {
    for (let i = 0; !stop; i++) {
      await pub.room();
      pub.publish('plant/fo/v', String(i));
      if (i % 50 === 0) await sleep(5);
    }
  })();
  while ((await count(cluster.urls[1], 'points_local', 'fo')) < 2000) await sleep(20);
  const before = await count(cluster.urls[1], 'points_local', 'fo');
  await cluster.nodes[0].server.stop('SIGKILL');
  const t0 = performance.now();
  while ((await count(cluster.urls[1], 'points_local', 'fo')) <= before) await sleep(5);
  const gap = performance.now() - t0;
  stop = true;
  await feed;
  pub.close();
  await g.stop();
  console.log(`  failover gap: ${gap.toFixed(0)} ms from replica A's SIGKILL to the next insert on replica B (batch.max_delay 50ms)`);
} finally {
  await cluster.stop();
  await server.stop();
}
