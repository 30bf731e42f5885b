/**
 * A sink's servers (`urls`): replicas of a cluster, grouped into shards by their {shard} macro.
 * A request goes to the first healthy replica (in the order listed) that can take it; a replica
 * that refuses or times out rests for a backoff and the request moves on to the next. A chunk's
 * shard is fixed by its id, so the same rows are retried on the same shard's replicas, which
 * deduplicate the block whichever of them takes it (ReplicatedMergeTree keeps block hashes, or
 * insert_deduplication_token, in ZooKeeper).
 */
import { Backoff } from '../../core/backoff.js';
import { errorMessage, systemCode } from '../../core/errors.js';
import type { ClickHouseConfig } from './config.js';
import { HttpTransport } from './http-client.js';
import { classify } from './retry.js';
import { TransportError, type InsertBody, type QueryLimits, type Transport } from './transport.js';

/** The urls and the cluster do not fit together: a configuration to fix, not an outage to wait out. */
export class ClusterMismatch extends Error {
  readonly code = 'FG_E_CONFIG';
}

export interface ReplicaHealth {
  url: string;
  shard: string | undefined;
  up: boolean;
}

interface Replica {
  url: string;
  t: Transport;
  /** The {shard} macro; undefined until read (the replica was down when the sink connected). */
  shard: string | undefined;
  up: boolean;
  downUntil: number;
  backoff: Backoff;
}

/** A failure a request should leave this replica for: network, timeouts, a server in trouble. */
function movesOn(err: unknown): boolean {
  const k = classify({
    message: errorMessage(err),
    status: err instanceof TransportError ? err.status : undefined,
    sysCode: err instanceof TransportError ? err.sysCode : systemCode(err),
    attempt: 1,
  });
  return k.decision === 'retry' || k.decision === 'retry_now';
}

export class ReplicaSet implements Transport {
  readonly kind = 'http' as const;
  readonly target: string;
  private readonly replicas: Replica[];

  constructor(
    urls: string[],
    private readonly cfg: ClickHouseConfig,
    password: string | undefined,
    /** Each change of a replica's health (for the per-URL metric), and each request moved to another replica. */
    private readonly events: { health(h: ReplicaHealth): void; failover(): void } = { health: () => undefined, failover: () => undefined },
    make: (url: string) => Transport = (url) => new HttpTransport({ ...cfg, url }, password),
    private readonly now: () => number = Date.now,
  ) {
    this.replicas = urls.map((url) => {
      const t = make(url);
      return { url: t.target, t, shard: undefined, up: true, downUntil: 0, backoff: new Backoff(cfg.retry_initial, cfg.retry_max) };
    });
    this.target = this.replicas.map((r) => r.url).join(',');
    // A resting replica is asked again once its rest is over, even while no request needs it,
    // so its health (and the metric) follows it back.
    this.probe = setInterval(() => void this.probeResting(), Math.min(5_000, Math.max(100, cfg.retry_max)));
    this.probe.unref();
  }

  private readonly probe: NodeJS.Timeout;
  private probing = false;

  private async probeResting(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      for (const r of this.replicas) {
        if (r.up || r.downUntil > this.now()) continue;
        try {
          await r.t.exec('SELECT 1');
          this.ok(r);
          if (r.shard === undefined) await this.readShard(r).catch(() => undefined);
        } catch (err) {
          if (movesOn(err)) this.down(r);
        }
      }
    } finally {
      this.probing = false;
    }
  }

  /** Every replica's health, for /status. */
  health(): ReplicaHealth[] {
    return this.replicas.map((r) => ({ url: r.url, shard: r.shard, up: r.up }));
  }

  /** The shards known so far, sorted: a chunk's shard is shards[id % shards.length]. */
  shards(): string[] {
    return [...new Set(this.replicas.map((r) => r.shard).filter((s): s is string => s !== undefined))].sort();
  }

  /** With a cluster and local inserts: how many shards the chunks are spread over (0: one group, no routing). */
  private expected = 0;

  /**
   * With `cluster` (local inserts): reads the number of shards from system.clusters and each
   * reachable replica's {shard} macro. The urls must reach every shard; while the replicas of a
   * shard are down its name is not known, and inserts wait (a chunk's shard is fixed only once
   * every shard is known, so that no retry goes to another shard).
   */
  async discover(cluster: string | undefined): Promise<void> {
    if (!cluster) return;
    const n = Number((await this.exec(`SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = '${cluster.replace(/'/g, "\\'")}'`)).trim());
    if (!n) throw new ClusterMismatch(`cluster ${cluster} is not in the remote_servers of ${this.target}`);
    for (const r of this.replicas) if (r.shard === undefined) await this.readShard(r).catch(() => undefined);
    const known = this.shards();
    if (known.length > n || (known.length < n && this.replicas.every((r) => r.shard !== undefined))) {
      throw new ClusterMismatch(
        `the urls reach shards ${known.join(', ') || 'none'} ({shard} macros) but cluster ${cluster} has ${n}: list at least one replica of every shard, or use insert_via: distributed`,
      );
    }
    this.expected = n;
  }

  private async readShard(r: Replica): Promise<void> {
    try {
      const text = await r.t.exec(`SELECT substitution FROM system.macros WHERE macro = 'shard'`);
      r.shard = text.trim().split('\n')[0] ?? '';
      this.ok(r);
    } catch (err) {
      if (movesOn(err)) {
        this.down(r);
        throw err;
      }
      // The replica answers but will not tell (a user without access to system tables): it counts as
      // one shard with the others. A cluster's discover() then finds a shard missing and says so.
      r.shard = '';
      this.ok(r);
    }
  }

  private ok(r: Replica): void {
    const changed = !r.up;
    r.up = true;
    r.downUntil = 0;
    r.backoff.reset();
    if (changed || r.shard !== undefined) this.events.health({ url: r.url, shard: r.shard, up: true });
  }

  private down(r: Replica): void {
    r.up = false;
    r.downUntil = this.now() + r.backoff.next();
    this.events.health({ url: r.url, shard: r.shard, up: false });
  }

  /** Healthy replicas first (in the order listed), then resting ones, soonest back first. */
  private order(candidates: Replica[]): Replica[] {
    const t = this.now();
    const ready = candidates.filter((r) => r.downUntil <= t);
    const resting = candidates.filter((r) => r.downUntil > t).sort((a, b) => a.downUntil - b.downUntil);
    return [...ready, ...resting];
  }

  /** Tries the candidates in order; a refusal or timeout moves on, any other error is the request's own and ends it. */
  private async attempt<T>(candidates: Replica[], run: (t: Transport) => Promise<T>): Promise<T> {
    let last: unknown = new TransportError('no replica of this shard is known yet', undefined, 'ECONNREFUSED');
    let tried = 0;
    for (const r of this.order(candidates)) {
      if (tried > 0) this.events.failover();
      tried++;
      try {
        if (r.shard === undefined) await this.readShard(r);
        const out = await run(r.t);
        this.ok(r);
        return out;
      } catch (err) {
        last = err;
        if (!movesOn(err)) throw err;
        this.down(r);
      }
    }
    throw last;
  }

  exec(sql: string, settings?: Record<string, string | number>): Promise<string> {
    return this.attempt(this.replicas, (t) => t.exec(sql, settings));
  }

  async insert(table: string, body: InsertBody, settings: Record<string, string | number>): Promise<void> {
    return this.attempt(await this.candidatesFor(body.route), (t) => t.insert(table, body, settings));
  }

  /** The replicas of the chunk's shard; every replica when there is no routing (one shard, inserts through the Distributed table). */
  private async candidatesFor(route: number | undefined): Promise<Replica[]> {
    if (this.expected <= 1 || route === undefined) return this.replicas;
    if (this.shards().length < this.expected) {
      for (const r of this.replicas) if (r.shard === undefined && r.downUntil <= this.now()) await this.readShard(r).catch(() => undefined);
      if (this.shards().length < this.expected)
        throw new TransportError(
          `no replica of ${this.expected - this.shards().length} of the ${this.expected} shards answers yet; chunks wait so that each keeps one shard`,
          undefined,
          'ECONNREFUSED',
        );
    }
    const shard = this.shards()[route % this.expected];
    return this.replicas.filter((r) => r.shard === shard);
  }

  query(sql: string, format: string, limits: QueryLimits): Promise<Buffer> {
    return this.attempt(this.replicas, (t) => t.query(sql, format, limits));
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    await Promise.all(this.replicas.map((r) => r.t.close()));
  }
}
