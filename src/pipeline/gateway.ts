/**
 * Wiring and lifecycle: journal → broker → workers → sink, and the HTTP
 * endpoint. Start never waits for the sink: after journal recovery the broker
 * accepts at once; the sink connects, creates tables and catches up alone.
 */
import { availableParallelism, hostname } from 'node:os';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { FgError, errorMessage } from '../core/errors.js';
import { faultsEnabled } from '../core/faults.js';
import { stalledLoops, type LoopProbe, type Stall } from '../core/heartbeat.js';
import { MAX_UNCOMMITTED, type Point } from '../core/ports.js';
import { SerialQueue } from '../core/serial.js';
import { Broker, parseBind } from '../broker/broker.js';
import { planReload, sinkConfigs, type Config } from '../config/schema.js';
import { Journal } from '../journal/journal.js';
import { DiskGuard } from '../journal/disk.js';
import { ChdbTransport, loadChdb } from '../sinks/clickhouse/chdb-client.js';
import { DeadLetters, listLetterFiles, replayDeadLetters } from '../sinks/clickhouse/deadletter.js';
import { HttpTransport } from '../sinks/clickhouse/http-client.js';
import { ClickHouseHttp } from '../sinks/clickhouse/http-server.js';
import { serverUrls, type ClickHouseConfig, type SinkConfig } from '../sinks/clickhouse/config.js';
import { ReplicaSet, type ReplicaHealth } from '../sinks/clickhouse/replicas.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import type { Transport } from '../sinks/clickhouse/transport.js';
import { FdWatch } from '../telemetry/fds.js';
import { HttpEndpoint } from '../telemetry/http.js';
import { RecentLogs, type Logger } from '../telemetry/logger.js';
import { ConsoleApi, type ConsoleHost } from '../console/api.js';
import { modern } from '../sinks/clickhouse/ddl.js';
import { BasicAuth } from '../console/auth.js';
import { ConsoleRoutes } from '../console/routes.js';
import { loopbackBind } from '../telemetry/config.js';
import type { Metrics } from '../telemetry/metrics.js';
import { SinkRunner } from './runner.js';
import { PartnerSet, partnerCursors, receiveRoutes, removeStalePartnerCursors } from './partners.js';
import type { MqttConfig } from '../encode/config.js';
import type { EncodeTask } from '../encode/worker.js';
import type { ShareResult, ShareSpec } from '../core/ports.js';
import { ModbusSource } from '../sources/modbus/poller.js';
import { Pushback } from './pushback.js';
import { OpcuaSource, shellQuote } from '../sources/opcua/source.js';

/** The journal consumers of the sinks and the partners, for the commands that open the journal. */
export function consumers(cfg: Config): { names: string[]; startAtEnd: string[] } {
  const pc = partnerCursors(cfg.partners);
  return { names: [...sinkConfigs(cfg).map((s) => s.name), ...pc.names], startAtEnd: pc.startAtEnd };
}

/** A filesystem smaller than the watermark would keep the journal and the store paused forever. */
export function checkDiskSize(dir: string, minFree: number): void {
  if (minFree <= 0) return;
  const st = statfsSync(dir);
  const total = st.blocks * st.bsize;
  if (total <= minFree) {
    throw new FgError(
      'FG_E_CONFIG',
      `journal.min_free_bytes: ${minFree} bytes is more than the whole filesystem of state_dir ${dir} (${total} bytes): the journal and the embedded store would wait for free space forever; expected a watermark well below the filesystem's size (e.g. ${Math.floor(total / 8)}), or 0 to turn the check off`,
    );
  }
}

export function workerThreads(configured: number): number {
  return configured > 0 ? configured : Math.max(1, availableParallelism() - 1);
}

/** A sink's store: the embedded one, one server, or replicas (urls, or a cluster). */
export function transportFor(ch: ClickHouseConfig, stateDir: string, events?: { health(h: ReplicaHealth): void; failover(): void }): Transport {
  const urls = serverUrls(ch);
  if (ch.urls.length || ch.cluster) return new ReplicaSet(urls, ch, ch.password, events);
  if (ch.url) return new HttpTransport({ ...ch, url: ch.url }, ch.password);
  return new ChdbTransport(join(stateDir, 'store'));
}

/** The store queries go to (fieldgate query, POST /query): the first sink's. */
export function createTransport(cfg: Config): Transport {
  return transportFor(sinkConfigs(cfg)[0].clickhouse, cfg.state_dir);
}

/** One sink: its store, the sink and the loop that moves it along the journal. */
interface SinkSlot {
  cfg: SinkConfig;
  transport: Transport;
  sink: ClickHouseSink;
  runner: SinkRunner;
}

/** The routes the workers decode with: the partners' receive routes first (their topics start with $partner/), then the MQTT routes. */
export function workerRoutes(cfg: Config): MqttConfig {
  const extra = receiveRoutes(cfg.partners);
  return extra.length ? { ...cfg.mqtt, routes: [...extra, ...cfg.mqtt.routes] } : cfg.mqtt;
}

export class Gateway {
  readonly journal: Journal;
  readonly broker: Broker;
  readonly modbus: ModbusSource;
  readonly opcua: OpcuaSource;
  readonly http: HttpEndpoint;
  private pool: Piscina | undefined;
  /** The sinks, in the order configured; the first answers queries. */
  private sinks: SinkSlot[] = [];
  private partners: PartnerSet | undefined;
  /** The routes every worker task carries: the MQTT routes and the partners' receive routes; SIGHUP bumps the version. */
  private routes: { cfg: MqttConfig; version: number };
  private readonly queries = new SerialQueue();
  private readonly reloads = new SerialQueue();
  /** The journal's commit loop: it has work while bytes wait uncommitted. */
  private readonly commitProbe: LoopProbe;
  private readonly deadLetterDir: string;
  readonly disk: DiskGuard;
  private readonly fds: FdWatch;
  /** The last warnings and errors, for the console. */
  readonly recent: RecentLogs;
  /** The web console's paths, served by the HTTP endpoint. */
  readonly console: ConsoleRoutes | undefined;
  private readonly auth: BasicAuth;
  /** batch.max_lag: holds MQTT publishers back while a sink falls further behind. */
  private readonly pushback: Pushback;
  /** ClickHouse's HTTP interface for reads (http.clickhouse_bind). */
  private clickhouseHttp: ClickHouseHttp | undefined;

  constructor(
    private cfg: Config,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    opts: { configFile?: string; recent?: RecentLogs } = {},
  ) {
    this.recent = opts.recent ?? new RecentLogs();
    const cs = consumers(cfg);
    this.journal = new Journal({ dir: cfg.state_dir, journal: cfg.journal, batch: cfg.batch, sinks: cs.names, startAtEnd: cs.startAtEnd, metrics, log });
    this.routes = { cfg: workerRoutes(cfg), version: 0 };
    const sparkplug = cfg.mqtt.routes.some((r) => r.format === 'sparkplug')
      ? { hostId: cfg.mqtt.sparkplug.host_id, rebirthMs: cfg.mqtt.sparkplug.rebirth_interval, file: join(cfg.state_dir, 'sparkplug', 'births.json') }
      : undefined;
    this.pushback = new Pushback(
      cfg.batch.max_lag,
      cfg.batch.max_delay,
      () =>
        this.sinks.map((x) => {
          const lagBytes = this.journal.lag(x.sink.name).bytes;
          const end = this.journal.endPosition;
          return {
            name: x.sink.name,
            inserting: x.sink.state === 'connected',
            lagBytes,
            storedTo: end - lagBytes,
            acceptedTo: end,
            sealedTo: this.journal.sealedPosition,
            ageMs: this.journal.lagMs(x.sink.name),
          };
        }),
      metrics,
      log,
      () => this.journal.endPosition,
    );
    this.broker = new Broker(cfg.broker, this.journal, metrics, log, join(cfg.state_dir, 'broker'), sparkplug, this.pushback);
    // Pollers stop appending while the journal withholds acceptance or cannot commit what it holds.
    const journal = this.journal;
    const points = {
      appendPoint: (r: number, p: Point) => journal.appendPoint(r, p),
      get blocked(): boolean {
        return journal.blocked || journal.uncommittedBytes > MAX_UNCOMMITTED;
      },
    };
    this.commitProbe = {
      loop: 'journal:commit',
      stallAfterMs: 10_000,
      hasWork: () => journal.uncommittedBytes > 0,
      get lastBeat(): number {
        return journal.lastCommitAt;
      },
    };
    this.modbus = new ModbusSource(cfg.modbus, points, metrics, log);
    this.opcua = new OpcuaSource(cfg.opcua, points, metrics, log, join(cfg.state_dir, 'pki'), opts.configFile ? ` -c ${shellQuote(opts.configFile)}` : '');
    const auth = (this.auth = new BasicAuth(cfg.http.users));
    try {
      this.console = new ConsoleRoutes(new ConsoleApi(this.consoleHost()), auth, log, () => this.replayDeadLetters());
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'console: its files are missing from the package; the web console is off');
    }
    this.http = new HttpEndpoint(parseBind(cfg.http.bind), metrics, this, log, cfg.http, { auth, cert_file: cfg.http.cert_file, key_file: cfg.http.key_file });
    this.deadLetterDir = join(cfg.state_dir, 'deadletter');
    this.disk = new DiskGuard(cfg.state_dir, cfg.journal.min_free_bytes, metrics, log);
    this.fds = new FdWatch(metrics, log);
  }

  async start(): Promise<void> {
    // Without chdb the embedded store can never open: say so now, not in a retry loop.
    if (sinkConfigs(this.cfg).some((s) => !serverUrls(s.clickhouse).length)) loadChdb();
    mkdirSync(this.cfg.state_dir, { recursive: true });
    checkDiskSize(this.cfg.state_dir, this.cfg.journal.min_free_bytes);
    removeStalePartnerCursors(this.cfg.state_dir, this.cfg.partners, this.log);
    const rec = this.journal.recover();
    this.log.info({ ...rec, state_dir: this.cfg.state_dir }, 'journal: recovered');
    if (faultsEnabled()) this.log.warn({ file: process.env.FIELDGATE_FAULTS }, 'fieldgate: fault injection is on (FIELDGATE_FAULTS); for tests only');
    this.disk.onChange((low) => this.journal.setDiskLow(low));
    this.disk.start();
    this.fds.start();
    await this.http.start();
    if (!loopbackBind(this.cfg.http.bind) && !this.cfg.http.users.length)
      this.log.warn({ bind: this.cfg.http.bind }, 'http: allow_anonymous: the console and /status are open to anyone who reaches this address');
    await this.broker.start();
    this.modbus.start();
    this.opcua.start();
    this.http.healthy = true;

    const threads = workerThreads(this.cfg.workers.threads);
    this.pool = new Piscina({ filename: new URL('../encode/worker.js', import.meta.url).href, minThreads: threads, maxThreads: threads, maxQueue: 64 });
    const deadLetters = new DeadLetters(this.deadLetterDir, Math.max(...sinkConfigs(this.cfg).map((c) => c.clickhouse.deadletter_max_bytes)), this.log);
    for (const sc of sinkConfigs(this.cfg)) this.sinks.push(this.startSink(sc, this.pool, deadLetters));
    if (this.cfg.http.clickhouse_bind) {
      this.clickhouseHttp = new ClickHouseHttp({
        bind: parseBind(this.cfg.http.clickhouse_bind),
        query: (sql, format) => this.query(sql, format),
        ...(this.auth.enabled ? { authenticate: (u: string, p: string) => this.auth.verify(u, p) } : {}),
        version: () => this.sinks[0]?.sink.features?.version,
        log: this.log,
      });
      await this.clickhouseHttp.start();
    }
    this.partners = new PartnerSet({
      journal: this.journal,
      gateway: this.gatewayId,
      idPrefix: () => `${this.gatewayId}:${this.journal.id}`,
      decode: (data, spec) => this.share(data, spec),
      metrics: this.metrics,
      log: this.log,
      stateDir: this.cfg.state_dir,
    });
    this.partners.start(this.cfg.partners);
    this.pushback.start();
    this.log.info(
      { workers: threads, sinks: this.sinks.map((x) => ({ name: x.sink.name, kind: x.transport.kind, target: x.transport.target })) },
      'fieldgate: started',
    );
  }

  private startSink(sc: SinkConfig, pool: Piscina, deadLetters: DeadLetters): SinkSlot {
    const ch = sc.clickhouse;
    const m = this.metrics;
    const transport = transportFor(ch, this.cfg.state_dir, {
      health: (h) => m.sinkReplicaUp.set({ sink: sc.name, url: h.url, shard: h.shard ?? '' }, h.up ? 1 : 0),
      failover: () => m.sinkFailovers.inc({ sink: sc.name }),
    });
    const spoolDir = transport instanceof ChdbTransport ? transport.spoolDir : undefined;
    if (spoolDir) {
      // Files of inserts that a crash interrupted: their chunks replay from the journal.
      rmSync(spoolDir, { recursive: true, force: true });
      mkdirSync(spoolDir, { recursive: true });
    }
    const sink = new ClickHouseSink({
      name: sc.name,
      cfg: ch,
      transport,
      metrics: m,
      log: this.log,
      deadLetters,
      reread: (id) => this.reread(id),
      customTables: Object.fromEntries(this.cfg.mqtt.routes.filter((r) => r.table !== undefined).map((r) => [r.table!, r.columns.map((c) => c.name)])),
      tokenPrefix: `${this.gatewayId}:${this.journal.id}`,
      gatewayId: this.gatewayId,
      ...(sc.select ? { select: sc.select } : {}),
    });
    const disk = this.disk;
    const runner = new SinkRunner({
      journal: this.journal,
      pool,
      sink,
      metrics: m,
      log: this.log,
      routes: () => this.routes,
      encodeTimeoutMs: this.cfg.workers.encode_timeout,
      // A request may time out once on each replica before the sink backs off.
      stallAfterMs: Math.max(2, serverUrls(ch).length + 1) * ch.request_timeout + ch.retry_max + 5_000,
      ...(spoolDir ? { spoolDir, paused: () => disk.low } : {}),
    });
    runner.start();
    return { cfg: sc, transport, sink, runner };
  }

  /** A worker selects what a partner's send entries name from a chunk (the bytes move to the worker). */
  private async share(data: Buffer, spec: ShareSpec): Promise<ShareResult> {
    const pool = this.pool;
    if (!pool) throw new Error('the worker pool is not running');
    const task: EncodeTask = { chunk: data, mqtt: this.routes.cfg, mqttVersion: this.routes.version, share: spec };
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`selecting took longer than ${this.cfg.workers.encode_timeout} ms`)), this.cfg.workers.encode_timeout);
    try {
      return (await pool.run(task, { transferList: [data.buffer as ArrayBuffer], signal: ac.signal })) as ShareResult;
    } finally {
      clearTimeout(timer);
    }
  }

  /** gateway_id, or the host name. */
  get gatewayId(): string {
    return (
      this.cfg.gateway_id ||
      hostname()
        .replace(/[^A-Za-z0-9_.-]/g, '_')
        .slice(0, 64)
    );
  }

  /** Every loop's heartbeat. */
  probes(): LoopProbe[] {
    return [this.commitProbe, ...this.sinks.map((x) => x.runner.probe), ...(this.partners?.probes() ?? []), ...this.modbus.probes(), ...this.opcua.probes()];
  }

  stalled(now = Date.now()): Stall[] {
    return stalledLoops(this.probes(), now);
  }

  private reread(chunkId: number): Promise<Buffer | undefined> {
    const c = this.journal.chunksAfter(0).find((x) => x.id === chunkId);
    if (!c) return Promise.resolve(undefined);
    return new Promise((res, rej) => this.journal.readChunk(c, (e, d) => (e ? rej(e) : res(d))));
  }

  /** Stop accepting, commit the journal, let in-flight inserts finish within the timeout. */
  async stop(): Promise<void> {
    this.http.healthy = false;
    this.pushback.stop(); // what it held is accepted while the journal is still open
    await this.broker.stop();
    await this.modbus.stop();
    await this.opcua.stop();
    await this.partners?.stop();
    await this.journal.flush();
    await Promise.all(this.sinks.map((x) => x.runner.stop(this.cfg.shutdown.timeout)));
    await this.pool?.destroy();
    for (const x of this.sinks)
      await x.transport.close().catch((err: unknown) => this.log.warn({ sink: x.sink.name, err: errorMessage(err) }, 'clickhouse: close failed'));
    await this.journal.close();
    await this.clickhouseHttp?.stop();
    await this.http.stop();
    this.disk.stop();
    this.fds.stop();
    this.log.info('fieldgate: stopped');
  }

  /**
   * SIGHUP: applies what each section's reload policy allows (config/schema.ts RELOAD: broker users
   * and ACLs, MQTT routes, Modbus tag maps, OPC UA servers and node lists, partners); says which
   * other sections changed and need a restart. The caller has validated `next`.
   */
  reload(next: Config): Promise<void> {
    // One reload at a time: two quick SIGHUPs must not interleave (two sessions under one name).
    return this.reloads.run(() => this.applyReload(next));
  }

  private async applyReload(next: Config): Promise<void> {
    // What each section allows is declared beside its schema (RELOAD in config/schema.ts).
    const plan = planReload(this.cfg, next);
    const cfg = plan.config;
    const changed = new Set(plan.applied);
    // Sources compare what they run with what they are given; the broker reads its password and
    // ACL files again (they may have changed under the same names), so these three run every time.
    this.log.info(this.modbus.reload(cfg.modbus), 'reload: modbus tag maps applied (kept devices keep polling)');
    this.log.info(await this.opcua.reload(cfg.opcua), 'reload: opcua servers applied (kept servers keep their session; node lists updated in place)');
    try {
      this.log.info(this.broker.reload(cfg.broker), 'reload: broker users and access rules applied (connected clients stay)');
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'reload: broker users and access rules could not be read; the running ones stay');
    }
    // Routes (MQTT routes and partners' receive routes) before partners: what a new partner sends decodes from its first message.
    const nextRoutes = workerRoutes(cfg);
    if (JSON.stringify(nextRoutes) !== JSON.stringify(this.routes.cfg)) {
      this.routes = { cfg: nextRoutes, version: this.routes.version + 1 };
      this.log.info({ routes: nextRoutes.routes.length }, 'reload: mqtt routes applied to every chunk encoded from now on');
    }
    if (changed.has('partners') && this.partners) {
      try {
        const p = await this.partners.reload(cfg.partners);
        if (p.added.length + p.removed.length + p.changed.length)
          this.log.info(
            p,
            "reload: partners applied (a new partner starts at the journal's end unless from: earliest; a changed one goes on from its cursor with the new selection)",
          );
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'reload: partners could not be applied');
      }
    }
    if (plan.restart.length) this.log.warn({ sections: plan.restart }, 'reload: these sections changed and take effect after a restart');
    // What was applied is now the running configuration (the rest waits for a restart).
    this.cfg = cfg;
  }

  /**
   * For the systemd watchdog: the journal commits what it holds (no commit hung for 30 s) and the
   * sink, when chunks wait for it, keeps making requests (inserting, or failing and retrying on
   * schedule). A sink that buffers through an outage is progress; a wedged one is not.
   */
  progressing(now = Date.now()): boolean {
    // The watchdog restarts the process: only for the journal and the sink, and only after 30 s.
    return stalledLoops([this.commitProbe, ...this.sinks.map((x) => x.runner.probe)], now - 20_000).length === 0;
  }

  // ---- HTTP handlers ----

  beforeScrape(): void {
    this.broker.counters.sync();
    this.partners?.statuses(); // sets the backlog gauges
    this.opcua.syncMetrics();
    this.journal.syncMetrics();
    for (const x of this.sinks) this.metrics.sinkLagSeconds.set({ sink: x.sink.name }, this.journal.lagMs(x.sink.name) / 1000);
    const stalled = new Set(this.stalled().map((x) => x.loop));
    // Only the loops there are now: a Modbus endpoint or OPC UA server removed by a reload goes.
    this.metrics.loopLastProgress.reset();
    this.metrics.loopStalled.reset();
    for (const p of this.probes()) {
      this.metrics.loopLastProgress.set({ loop: p.loop }, Math.floor(p.lastBeat / 1000));
      this.metrics.loopStalled.set({ loop: p.loop }, stalled.has(p.loop) ? 1 : 0);
    }
    if (this.pool) {
      this.metrics.workerBusy.set(this.pool.utilization);
      this.metrics.workerQueue.set(this.pool.queueSize);
    }
  }

  ready(): { ready: boolean; body: unknown } {
    const sinks = this.sinks.map((x) => ({
      ...x.sink.status(this.journal.lag(x.sink.name)),
      ...(x.transport instanceof ReplicaSet ? { replicas: x.transport.health() } : {}),
    }));
    const blocked = this.journal.blocked;
    const stalled = this.stalled();
    const ok = !blocked && stalled.length === 0 && sinks.every((x) => x.state !== 'failing');
    return {
      ready: ok,
      body: {
        ready: ok,
        journal: { blocked, end: this.journal.endPosition, committed: this.journal.committedPosition },
        pushback: this.pushback.active,
        disk: { low: this.disk.low, free_bytes: this.disk.free },
        fds: { open: this.fds.open, max: this.fds.max },
        sinks,
        partners: this.partners?.statuses() ?? [],
        stalled,
      },
    };
  }

  status(): unknown {
    this.broker.counters.sync();
    return {
      ...(this.ready().body as object),
      broker: { listeners: this.broker.bound, messages: this.broker.counters.total },
      // The store queries go to (the first sink), and every sink's.
      store: this.sinks[0] ? this.storeOf(this.sinks[0]) : undefined,
      stores: this.sinks.map((x) => ({ sink: x.sink.name, ...this.storeOf(x) })),
    };
  }

  private storeOf(x: SinkSlot): { kind: string; target: string; version: string | undefined } {
    return { kind: x.transport.kind, target: x.transport.target, version: x.sink.features?.version };
  }

  /** One query at a time, read-only, with time and memory limits, in the first sink's store. */
  query(sql: string, format: string): Promise<Buffer> {
    const first = this.sinks[0];
    if (!first) return Promise.reject(new Error('the store is not open yet'));
    const t = first.transport;
    const ch = first.cfg.clickhouse;
    const run = async (): Promise<Buffer> => {
      const t0 = process.hrtime.bigint();
      try {
        const r = await t.query(sql, format, { timeoutMs: ch.query_timeout, maxMemory: ch.query_max_memory });
        this.metrics.queries.inc({ outcome: 'ok' });
        return r;
      } catch (err) {
        this.metrics.queries.inc({ outcome: 'error' });
        throw err;
      } finally {
        this.metrics.querySeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
      }
    };
    return this.queries.run(run);
  }

  replayDeadLetters(): Promise<{ replayed: number; files: number }> {
    return replayDeadLetters(this.deadLetterDir, this.journal, this.log);
  }

  /** What the console reads: status, metrics, the first sink's store, the configured sources and units. */
  private consoleHost(): ConsoleHost {
    return {
      status: () => this.status() as Record<string, unknown>,
      registry: this.metrics.registry,
      query: (sql, format) => this.query(sql, format),
      recent: this.recent,
      store: () => {
        const first = this.sinks[0];
        const f = first?.sink.features;
        if (!first || !f) return undefined;
        const ch = first.cfg.clickhouse;
        return { database: ch.database, table: ch.table, modern: modern(f), rollups: ch.rollups };
      },
      units: () => {
        const u = new Map<string, string>();
        for (const d of this.cfg.modbus.devices) for (const t of d.tags) if (t.unit) u.set(`${d.name}\u0000${t.name}`, t.unit);
        return u;
      },
      sources: () => [
        ...this.cfg.modbus.devices.map((d) => ({ kind: 'modbus' as const, name: d.name })),
        ...this.cfg.opcua.servers.map((x) => ({ kind: 'opcua' as const, name: x.name })),
      ],
      deadLetterFiles: () => listLetterFiles(this.deadLetterDir),
      gatewayId: this.gatewayId,
    };
  }
}
