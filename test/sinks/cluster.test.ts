/**
 * A real ClickHouse cluster (ZooKeeper and clickhouse-server 18.16 processes from Debian, on
 * loopback) behind a gateway with two sinks: the embedded store for local history and the
 * cluster. One shard of two replicas while replica A is SIGKILLed and restarted under QoS 1 load;
 * then two shards written by three gateways.
 */
import { describe, expect, it } from 'vitest';
import { ClickHouseCluster } from '../../bench/lib/cluster.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { qos1Load, tally } from '../helpers/load.js';
import { waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

/** The values of `device` in the cluster (through the Distributed table), as numbers. */
async function clusterValues(c: ClickHouseCluster, at: number, device: string): Promise<number[]> {
  return (await c.nodes[at].server.query(`SELECT toUInt64(value) FROM fieldgate.points WHERE device = '${device}' FORMAT TabSeparated`))
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

const central = (c: ClickHouseCluster, extra = '') =>
  `  clickhouse: { urls: [ ${c.urls.map((u: string) => `"${u}"`).join(', ')} ], cluster: plant, retry_initial: 100ms, retry_max: 1s, request_timeout: 5s${extra} }`;

describe('a ClickHouse cluster as a second sink', () => {
  it('one shard, two replicas: replica A is SIGKILLed under load and comes back; the cluster and the local store hold every acknowledged value once', async () => {
    const c: ClickHouseCluster = await ClickHouseCluster.create({ shards: 1, replicas: 2 });
    cleanups.push(() => c.stop());
    const g = await TestGateway.create({
      batchMaxDelay: '100ms',
      yaml: 'gateway_id: line3-gw',
      sinks: ['- { name: local, clickhouse: { retry_max: 1s } }', '- name: central', central(c)],
    });
    cleanups.push(() => g.stop());
    await g.start();
    const load = qos1Load(() => g.mqttPort, { topic: 'plant/cl/seq', clientPrefix: 'cl-pub', pauseEvery: 100, pauseMs: 2, inflight: 200 });
    await waitFor('3,000 values in the cluster', async () => (await clusterValues(c, 1, 'cl')).length > 3000, 30_000, 100);

    // Replica A dies in the middle of the run; inserts move to B.
    const a = c.nodes[0].server;
    const before = (await clusterValues(c, 1, 'cl')).length;
    await a.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor('an insert on replica B after A died', async () => (await clusterValues(c, 1, 'cl')).length > before, 30_000, 20);
    const gap = Date.now() - killedAt;
    await waitFor('30,000 published', () => load.published >= 30_000, 60_000, 100);
    await a.start();
    await load.stop();
    await g.drained(60_000);

    const acked = load.acked;
    expect(acked.size).toBeGreaterThanOrEqual(29_000);
    const fromCluster = tally(await clusterValues(c, 1, 'cl'), acked);
    expect(fromCluster.lost, `acknowledged but not in the cluster (of ${acked.size})`).toEqual([]);
    expect(fromCluster.duplicated, 'in the cluster more than once').toEqual([]);
    const local = tally((await g.query("SELECT toUInt64(value) FROM fieldgate.points WHERE device = 'cl'")).split('\n').filter(Boolean).map(Number), acked);
    expect(local.lost, 'acknowledged but not in the local store').toEqual([]);
    expect(local.duplicated, 'in the local store more than once').toEqual([]);
    // The replicas agree once A has caught up.
    await c.nodes[0].server.query('SYSTEM SYNC REPLICA fieldgate.points_local');
    const rows = async (i: number) =>
      (
        await c.nodes[i].server.query("SELECT count(), sum(value), uniqExact(gateway_id), any(gateway_id) FROM fieldgate.points_local WHERE device = 'cl'")
      ).trim();
    expect(await rows(0)).toBe(await rows(1));
    expect((await rows(1)).split('\t').slice(2)).toEqual(['1', 'line3-gw']);
    // The gateway saw A go and come back, and moved inserts.
    expect(await g.metric('fieldgate_sink_failovers_total{sink="central"}')).toBeGreaterThanOrEqual(1);
    await waitFor(
      'replica A healthy again in the metrics',
      async () => (await g.metric(`fieldgate_sink_replica_up{sink="central",url="${c.urls[0]}/",shard="01"}`)) === 1,
      20_000,
      200,
    );
    const ready = await g.readyz();
    expect(ready.body.sinks.map((s) => (s as { name?: string }).name)).toEqual(['local', 'central']);
    console.log(
      `cluster failover: ${acked.size} acknowledged, ${fromCluster.counts.size} in the cluster once, failover gap ${gap} ms (replica A SIGKILLed → next insert on B)`,
    );
  });

  it('two shards, three gateways (one through the Distributed table): every value once, each row with its gateway_id', async () => {
    const c: ClickHouseCluster = await ClickHouseCluster.create({ shards: 2, replicas: 1 });
    cleanups.push(() => c.stop());
    const gws: TestGateway[] = [];
    for (const [i, via] of ['local', 'local', 'distributed'].entries()) {
      const g = await TestGateway.create({
        batchMaxDelay: '50ms',
        yaml: `gateway_id: gw${i + 1}`,
        sinks: ['- name: central', central(c, via === 'distributed' ? ', insert_via: distributed' : '')],
      });
      cleanups.push(() => g.stop());
      await g.start();
      gws.push(g);
    }
    const loads = gws.map((g, i) =>
      qos1Load(() => g.mqttPort, { topic: `plant/fleet${i % 2}/seq`, clientPrefix: `fl-${i}`, pauseEvery: 100, pauseMs: 2, inflight: 100 }),
    );
    await waitFor('3,000 published by each', () => loads.every((l) => l.published >= 3000), 60_000, 100);
    for (const l of loads) await l.stop();
    for (const g of gws) await g.drained(60_000);
    for (const [i, l] of loads.entries()) {
      const rows = (await c.nodes[0].server.query(`SELECT toUInt64(value) FROM fieldgate.points WHERE gateway_id = 'gw${i + 1}' FORMAT TabSeparated`))
        .split('\n')
        .filter(Boolean)
        .map(Number);
      const t = tally(rows, l.acked);
      expect(t.lost, `gw${i + 1}: acknowledged but not stored`).toEqual([]);
      expect(t.duplicated, `gw${i + 1}: stored twice`).toEqual([]);
      expect(rows.length).toBe(l.acked.size);
    }
    // Both shards hold rows (local inserts spread chunks over the shards), and nothing lacks its gateway_id.
    for (const n of c.nodes) expect(Number(await n.server.query('SELECT count() FROM fieldgate.points_local'))).toBeGreaterThan(0);
    expect((await c.nodes[1].server.query("SELECT count() FROM fieldgate.points WHERE gateway_id = ''")).trim()).toBe('0');
  });
});
