/**
 * The embedded broker: the only file that imports aedes. A PUBLISH is
 * appended to the journal in authorizePublish, which aedes runs before it
 * writes the PUBACK (lib/handlers/publish.js); the PUBACK's bytes then wait in
 * the AckGate until the group commit that holds the message. A QoS 0/1 PUBLISH
 * nobody subscribed to skips the rest of aedes's publish path (lean-publish.ts).
 */
import './quiet-debug.js';
import './fast-bl.js';
import type { Duplex } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import { ClassicLevel } from 'classic-level';
import { errorMessage } from '../core/errors.js';
import { MAX_UNCOMMITTED, type JournalPort } from '../core/ports.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { BrokerConfig } from './config.js';
import { IngestCounters } from './ingest.js';
import { AckGate } from './ack-gate.js';
import { isLoopbackBind, listen, parseBind, type Listening } from './listeners.js';
import { BrokerSecurity, type ConnInfo } from './security.js';
import { acceptFailed } from '../telemetry/http.js';
import { RateLimitedLog } from '../telemetry/logger.js';
import { SparkplugHost, type SparkplugOptions } from './sparkplug.js';
import {
  authenticate,
  authorizeForward,
  authorizePublish,
  authorizeSubscribe,
  preConnect,
  type ClientState,
  type HeldBack,
  type HookContext,
} from './hooks.js';
import { countEvents } from './events.js';
import { limitPacketSize } from './packet-limit.js';
import { sliceReads } from './read-slices.js';
import { boundQos0 } from './outbound.js';
import { leanPublishPath } from './lean-publish.js';

/** What aedes gets of one connection per turn of the event loop (read-slices.ts). */
const READ_SLICE = { packets: 64, bytes: 8192 };

export { parseBind };

export class Broker {
  private aedes: Aedes | undefined;
  private readonly servers: Listening[] = [];
  readonly security: BrokerSecurity;
  private readonly states = new WeakMap<object, ClientState>();
  private readonly limitedLog: RateLimitedLog;
  readonly counters: IngestCounters;
  private readonly gate: AckGate;
  /** The ports actually bound (for port 0 in tests). */
  readonly bound: Array<{ host: string; port: number }> = [];

  constructor(
    private readonly cfg: BrokerConfig,
    private readonly journal: JournalPort,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Folder of the on-disk persistence (persistence: disk). */
    private readonly persistenceDir?: string,
    /** Sparkplug B host settings, when a route has format sparkplug. */
    private readonly sparkplugOptions?: SparkplugOptions,
    /** batch.max_lag: while active, publishes wait as they do for a full journal. */
    private readonly pushback?: HeldBack,
  ) {
    this.counters = new IngestCounters(metrics);
    this.gate = new AckGate(
      () => journal.committedPosition,
      () => journal.batchStart,
    );
    this.security = new BrokerSecurity(log);
    this.limitedLog = new RateLimitedLog(log, 60_000);
  }

  /** SIGHUP: new users and ACLs for new connections and every later check; connected clients stay. */
  reload(cfg: BrokerConfig): { users: number; rules: number } {
    return this.security.load(cfg);
  }

  private sparkplug: SparkplugHost | undefined;

  async start(): Promise<void> {
    const journal = this.journal;
    const publish = (topic: string, payload: Buffer, qos: 0 | 1, retain: boolean) =>
      new Promise<void>((res) => {
        if (!this.aedes) return res();
        this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false } as never, () => res());
      });
    const sparkplug = (this.sparkplug = this.sparkplugOptions ? new SparkplugHost(this.sparkplugOptions, journal, publish, this.metrics, this.log) : undefined);
    const counters = this.counters;
    const gate = this.gate;
    journal.onCommit((committed) => gate.release(committed));
    const accept = (client: Client, packet: PublishPacket, cb: (err?: Error | null) => void): void => {
      const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const now = Date.now();
      try {
        if (sparkplug && packet.topic.startsWith('spBv1.0/')) sparkplug.onMessage(packet.topic, body, now);
        journal.appendMqtt(now, packet.qos, packet.topic, client.id, body);
      } catch (err) {
        return cb(err as Error);
      }
      counters.add(packet.qos, body.length);
      // The PUBACK/PUBREC aedes writes next waits in the gate for this commit.
      if (packet.qos > 0) gate.appended(client.conn, journal.endPosition);
      // Memory stays bounded: past the cap, reading from this client waits for the commit.
      if (journal.uncommittedBytes > MAX_UNCOMMITTED) journal.whenCommitted(cb);
      else cb(null);
    };
    const security = this.security;
    const loaded = security.load(this.cfg);
    security.warnings(this.cfg.listeners, (l) => isLoopbackBind(l.bind));
    const states = this.states;
    const limitedLog = this.limitedLog;
    const limits = this.cfg.limits;
    const ctx: HookContext = {
      states,
      security,
      metrics: this.metrics,
      limitedLog,
      limits,
      journal,
      ...(this.pushback ? { pushback: this.pushback } : {}),
      counters,
      connectedClients: () => this.aedes?.connectedClients ?? 0,
      accept,
    };
    const authorize = authorizePublish(ctx);
    const persistence = this.openPersistence();
    this.aedes = await Aedes.createBroker({
      ...(persistence ? { persistence } : {}),
      // mqemitter's bounded concurrency recursed through released() → _do() until the
      // stack overflowed under a QoS 0 flood here; unbounded emits do not queue.
      concurrency: 0,
      maxInflightInbound: limits.max_inflight,
      maxTopicLevels: limits.max_topic_levels,
      keepaliveLimit: limits.keepalive_max,
      drainTimeout: limits.slow_consumer_timeout,
      connectTimeout: limits.connect_timeout,
      preConnect: preConnect(ctx),
      authenticate: authenticate(ctx),
      authorizePublish: authorize,
      authorizeSubscribe: authorizeSubscribe(ctx),
      authorizeForward: authorizeForward(ctx),
    });
    const aedes = this.aedes;
    countEvents(aedes, this.metrics, limitedLog, this.log);
    const lean = leanPublishPath(aedes, authorize, gate, counters, limits.max_topic_levels, this.log);
    const unsentDrop = (client: string | null): void => {
      this.metrics.brokerFloodDrops.inc({ reason: 'unsent_limit' });
      limitedLog.warn(
        'flood:unsent_limit',
        { client, limit: limits.max_unsent },
        'broker: dropping QoS 0 messages for a subscriber that reads slower than they arrive (limits.max_unsent)',
      );
    };
    const onStream = (stream: Duplex, info: ConnInfo) => {
      states.set(stream, { info });
      gate.attach(stream as never);
      const client = aedes.handle(stream);
      limitPacketSize((client as unknown as { _parser: unknown })._parser, limits.max_packet_size);
      boundQos0(client, limits.max_unsent, unsentDrop);
      lean?.install(client);
      // Same aedes internals as the lean path (which warns once when they change).
      sliceReads(client, READ_SLICE);
    };
    for (const l of this.cfg.listeners) {
      const s = await listen(
        l,
        onStream,
        (err) => this.log.debug({ err: errorMessage(err), bind: l.bind }, 'broker: TLS handshake failed'),
        (err) => acceptFailed(this.metrics, this.limitedLog, `broker:${l.type}`, err),
      );
      this.bound.push({ host: s.host, port: s.port });
      this.servers.push(s);
      this.log.info(
        {
          listener: l.type,
          bind: l.bind,
          ...(l.type === 'ws' || l.type === 'wss' ? { path: l.path } : {}),
          anonymous: BrokerSecurity.anonymousAllowed(l, isLoopbackBind(l.bind)),
        },
        'broker: listening',
      );
    }
    this.log.info(loaded, 'broker: users and access rules loaded');
    sparkplug?.start();
  }

  private persistence: AsyncLevelPersistence | undefined;
  private countTimer: NodeJS.Timeout | undefined;

  /** Retained messages and persistent sessions on disk (aedes-persistence-level over LevelDB). */
  private openPersistence(): AsyncLevelPersistence | undefined {
    if (this.cfg.persistence !== 'disk' || !this.persistenceDir) return undefined;
    mkdirSync(this.persistenceDir, { recursive: true });
    const db = new ClassicLevel<string, Buffer>(this.persistenceDir, { valueEncoding: 'buffer' });
    this.persistence = new AsyncLevelPersistence(db);
    const count = async () => {
      const p = this.persistence;
      if (!p) return;
      const off = await p.countOffline();
      this.metrics.brokerPersistedSessions.set(off.clientsCount);
      let retained = 0;
      for await (const _ of p.createRetainedStream('#')) retained++;
      this.metrics.brokerRetained.set(retained);
    };
    this.countTimer = setInterval(() => void count().catch(() => undefined), 30_000);
    this.countTimer.unref();
    setTimeout(() => void count().catch(() => undefined), 1000).unref();
    return this.persistence;
  }

  /** Stops accepting connections and publishes; connected clients are closed. */
  async stop(): Promise<void> {
    // The host goes offline while the broker can still store and deliver it (bounded: the retained store may be slow).
    if (this.sparkplug) await Promise.race([this.sparkplug.stop(), new Promise((r) => setTimeout(r, 2000))]);
    // Stop accepting, then close the clients (a listener's close completes only once its connections are gone).
    const closing = Promise.all(this.servers.map((s) => s.close()));
    if (this.aedes) await new Promise<void>((res) => this.aedes!.close(() => res()));
    await closing;
    clearInterval(this.countTimer);
    await this.persistence?.destroy().catch(() => undefined);
    this.persistence = undefined;
    this.counters.sync();
  }
}
