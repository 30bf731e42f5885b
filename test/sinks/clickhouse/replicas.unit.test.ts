/**
 * The replica set against fake servers at its port (Transport): which replica a request goes to,
 * when it moves on, how long a replica rests, and which shard a chunk goes to. No ClickHouse.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ClusterMismatch, ReplicaSet, type ReplicaHealth } from '../../../src/sinks/clickhouse/replicas.js';
import { TransportError, type InsertBody, type Transport } from '../../../src/sinks/clickhouse/transport.js';

/** A server with a {shard} macro that is up or down, and answers what a ReplicaSet asks. */
class FakeServer implements Transport {
  readonly kind = 'http' as const;
  down = false;
  refuse: Error | undefined;
  inserts: number[] = [];
  constructor(
    readonly target: string,
    private readonly shard: string,
    private readonly shardsInCluster = 1,
  ) {}
  private gate(): Promise<void> {
    if (this.down) return Promise.reject(new TransportError('connect ECONNREFUSED', undefined, 'ECONNREFUSED'));
    if (this.refuse) return Promise.reject(this.refuse);
    return Promise.resolve();
  }
  async exec(sql: string): Promise<string> {
    await this.gate();
    if (sql.includes('system.macros')) return this.shard;
    if (sql.includes('system.clusters')) return String(this.shardsInCluster);
    return '1';
  }
  async insert(_table: string, body: InsertBody): Promise<void> {
    await this.gate();
    this.inserts.push(body.route ?? -1);
  }
  async query(): Promise<Buffer> {
    await this.gate();
    return Buffer.from('ok');
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function set(servers: FakeServer[], clock: { t: number }) {
  const cfg = parseConfig('state_dir: /tmp/x\nclickhouse: { urls: [ "http://a:1" ], retry_initial: 1s, retry_max: 8s }', 'f.yaml', {}).config!.clickhouse;
  const health: ReplicaHealth[] = [];
  let failovers = 0;
  const byUrl = new Map(servers.map((s) => [s.target, s]));
  const r = new ReplicaSet(
    servers.map((s) => s.target),
    cfg,
    undefined,
    { health: (h) => health.push(h), failover: () => failovers++ },
    (u) => byUrl.get(u)!,
    () => clock.t,
  );
  return { r, health, failovers: () => failovers };
}

const body = (route: number): InsertBody => ({ data: Buffer.alloc(1), structure: '', route });

describe('replica set', () => {
  it('sends to the first replica; a refused one rests and the request moves on at once; it is used again after its rest', async () => {
    const clock = { t: 0 };
    const [a, b] = [new FakeServer('a', '01'), new FakeServer('b', '01')];
    const { r, health, failovers } = set([a, b], clock);
    await r.insert('t', body(1), {});
    expect([a.inserts, b.inserts]).toEqual([[1], []]);
    a.down = true;
    await r.insert('t', body(2), {});
    expect(b.inserts).toEqual([2]);
    expect(failovers()).toBe(1);
    const lastOfA = () => health.filter((h) => h.url === 'a').at(-1);
    expect(lastOfA()).toEqual({ url: 'a', shard: '01', up: false });
    a.down = false;
    // Still resting (the first rest is 0.5–1 s): b takes it, a is not asked.
    await r.insert('t', body(3), {});
    expect([a.inserts, b.inserts]).toEqual([[1], [2, 3]]);
    clock.t += 1001;
    await r.insert('t', body(4), {});
    expect(a.inserts).toEqual([1, 4]);
    expect(lastOfA()).toEqual({ url: 'a', shard: '01', up: true });
    await r.close();
  });

  it("an error that is the request's own (rows refused, bad SQL) ends it without moving on", async () => {
    const clock = { t: 0 };
    const [a, b] = [new FakeServer('a', '01'), new FakeServer('b', '01')];
    const { r, failovers } = set([a, b], clock);
    a.refuse = new TransportError('Code: 27, e.displayText() = DB::Exception: Cannot parse input', 500);
    await expect(r.insert('t', body(1), {})).rejects.toThrow(/Code: 27/);
    expect(b.inserts).toEqual([]);
    expect(failovers()).toBe(0);
    await r.close();
  });

  it('with every replica down, each is tried once (soonest back first) and the last error is thrown', async () => {
    const clock = { t: 0 };
    const [a, b] = [new FakeServer('a', '01'), new FakeServer('b', '01')];
    const { r } = set([a, b], clock);
    a.down = b.down = true;
    await expect(r.insert('t', body(1), {})).rejects.toThrow(/ECONNREFUSED/);
    b.down = false;
    // Both rest; b's rest may end first or last, but it is tried either way.
    await r.insert('t', body(2), {});
    expect(b.inserts).toEqual([2]);
    await r.close();
  });

  it('a cluster of two shards: a chunk goes to shard (id mod 2), on a replica of that shard, also after a failover', async () => {
    const clock = { t: 0 };
    const s = [new FakeServer('a', '01', 2), new FakeServer('b', '01', 2), new FakeServer('c', '02', 2), new FakeServer('d', '02', 2)];
    const { r } = set(s, clock);
    await r.discover('plant');
    for (const id of [10, 11, 12, 13]) await r.insert('t', body(id), {});
    expect(s.map((x) => x.inserts)).toEqual([[10, 12], [], [11, 13], []]);
    s[2].down = true;
    await r.insert('t', body(15), {});
    expect(s[3].inserts).toEqual([15]);
    await r.close();
  });

  it('urls that miss a shard of the cluster are a configuration error; a shard whose replicas are down makes inserts wait', async () => {
    const clock = { t: 0 };
    const onlyOne = [new FakeServer('a', '01', 2), new FakeServer('b', '01', 2)];
    await expect(set(onlyOne, clock).r.discover('plant')).rejects.toBeInstanceOf(ClusterMismatch);
    const s = [new FakeServer('a', '01', 2), new FakeServer('c', '02', 2)];
    s[1].down = true;
    const { r } = set(s, clock);
    await r.discover('plant');
    // Shard 02 is not known yet: no chunk may be routed (the mapping would change once it is).
    await expect(r.insert('t', body(2), {})).rejects.toThrow(/shards answers yet/);
    expect(s[0].inserts).toEqual([]);
    s[1].down = false;
    clock.t += 10_000;
    await r.insert('t', body(3), {});
    expect(s[1].inserts).toEqual([3]);
    await r.close();
  });
});
