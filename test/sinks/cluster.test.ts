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
import { parseVersion, pointsDdl, type PointsDdlOptions, type ServerFeatures } from '../../src/sinks/clickhouse/ddl.js';

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
    // The last chunks may have gone to A once it was back (the first URL listed); B reads them only
    // once it has fetched A's parts (replication is asynchronous: seen in CI, 200 values short).
    for (const n of c.nodes) await n.server.query('SYSTEM SYNC REPLICA fieldgate.points_local');
    await waitFor('B to hold what A stored', async () => tally(await clusterValues(c, 1, 'cl'), acked).lost.length === 0, 30_000, 200).catch(() => undefined);
    const fromCluster = tally(await clusterValues(c, 1, 'cl'), acked);
    expect(fromCluster.lost, `acknowledged but not in the cluster (of ${acked.size})`).toEqual([]);
    expect(fromCluster.duplicated, 'in the cluster more than once').toEqual([]);
    const local = tally((await g.query("SELECT toUInt64(value) FROM fieldgate.points WHERE device = 'cl'")).split('\n').filter(Boolean).map(Number), acked);
    expect(local.lost, 'acknowledged but not in the local store').toEqual([]);
    expect(local.duplicated, 'in the local store more than once').toEqual([]);
    // The replicas agree once A has caught up.
    const rows = async (i: number) =>
      (
        await c.nodes[i].server.query("SELECT count(), sum(value), uniqExact(gateway_id), any(gateway_id) FROM fieldgate.points_local WHERE device = 'cl'")
      ).trim();
    expect(await rows(0)).toBe(await rows(1));
    expect((await rows(1)).split('\t').slice(2)).toEqual(['1', 'line3-gw']);
    // The rollups (replicated, filled on each replica by the views on its staging table) hold every value once, on both
    // replicas once each has fetched what the other made.
    for (const n of c.nodes) await n.server.query('SYSTEM SYNC REPLICA fieldgate.points_1h_local');
    for (const n of c.nodes)
      expect((await n.server.query("SELECT countMerge(n) FROM fieldgate.points_1h_local WHERE device = 'cl'")).trim().split('\t')[0]).toBe(
        (await n.server.query("SELECT count() FROM fieldgate.points_local WHERE device = 'cl' AND quality = 0 AND isFinite(value)")).trim(),
      );
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

  it('a block one replica stored before it died, inserted again on the other, is rolled up once: on 18.16 only through the staging table', async () => {
    const c: ClickHouseCluster = await ClickHouseCluster.create({ shards: 1, replicas: 2 });
    cleanups.push(() => c.stop());
    const [a, b] = c.nodes.map((n) => n.server);
    const version = (await a.query('SELECT version()')).trim();
    // The premise: this server has no insert tokens, so a replica decides a repeat by the block's checksum.
    expect((await a.query("SELECT count() FROM system.settings WHERE name = 'insert_deduplication_token'")).trim()).toBe('0');
    const f: ServerFeatures = { version, ...parseVersion(version), dedupToken: false, dedupWindow: false, embedded: false };
    const rows = Array.from({ length: 60 }, (_, i) => `${1_700_000_040_000 + i * 100}\tpress\tp\t${i}\t\t0\ttest\tgw`).join('\n') + '\n';
    const insert = (server: typeof a, table: string) => server.query(`INSERT INTO ${table} FORMAT TabSeparated\n${rows}`);
    const counts = async (db: string) => {
      const out: string[] = [];
      for (const s of [a, b]) {
        for (const t of ['points_local', 'points_1m_local', 'points_1h_local']) await s.query(`SYSTEM SYNC REPLICA ${db}.${t}`);
        out.push(
          (
            await s.query(
              `SELECT (SELECT count() FROM ${db}.points_local), (SELECT countMerge(n) FROM ${db}.points_1m_local), (SELECT countMerge(n) FROM ${db}.points_1h_local), (SELECT avgMerge(avg_value) FROM ${db}.points_1h_local)`,
            )
          ).trim(),
        );
      }
      return out;
    };
    const o = (database: string): PointsDdlOptions => ({ database, table: 'points', dedupWindow: 100, cluster: 'plant', rollups: { minuteMs: 0, hourMs: 0 } });

    // The layout fieldgate makes here: A stored the rows (its view into points_local ran) and died before the rollups'
    // views; the gateway inserts the block again, on B. B drops the rows as a repeat but still rolls them up; a third
    // insert (on A, back) changes nothing.
    for (const sql of pointsDdl(f, o('staged'))) await a.query(sql);
    await insert(a, 'staged.points_local');
    await insert(b, 'staged.points_in_local');
    await insert(a, 'staged.points_in_local');
    expect(await counts('staged')).toEqual(['60\t60\t60\t29.5', '60\t60\t60\t29.5']);

    // Why: with the views on the points table itself (what a server with insert tokens gets), the same sequence leaves
    // the rollups without the block, because 18.16 skips the views of a block its table drops as a repeat.
    for (const sql of pointsDdl({ ...f, dedupToken: true }, o('direct'))) await a.query(sql);
    for (const v of ['points_1m_local_mv', 'points_1h_local_mv']) await a.query(`DETACH TABLE direct.${v}`);
    await insert(a, 'direct.points_local');
    for (const v of ['points_1m_local_mv', 'points_1h_local_mv']) await a.query(`ATTACH TABLE direct.${v}`);
    await insert(b, 'direct.points_local');
    expect((await counts('direct')).map((r) => r.split('\t').slice(0, 3).join(' '))).toEqual(['60 0 0', '60 0 0']);
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
