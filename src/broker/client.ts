/**
 * The embedded broker: the only file that imports aedes. A PUBLISH is
 * appended to the journal in authorizePublish, which aedes runs before it
 * writes the PUBACK (lib/handlers/publish.js); the PUBACK's bytes then wait in
 * the AckGate until the group commit that holds the message.
 */
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
import type { Who } from './acl.js';
import { BrokerSecurity, Connack, type ConnInfo } from './security.js';
import { acceptFailed } from '../telemetry/http.js';
import { RateLimitedLog } from '../telemetry/logger.js';
import { SparkplugHost, type SparkplugOptions } from './sparkplug.js';

export { parseBind };


/** What the broker knows of a connection before and after CONNECT. */
interface ClientState {
  info: ConnInfo;
  username?: string;
  /** Who the ACL sees, made once at CONNECT (the checks run per message and per delivery). */
  who?: Who;
  /** CONNECT asked for a persistent session with an empty client id [MQTT-3.1.3-8]. */
  emptyPersistentId?: boolean;
}

type ParserInternals = { _parseLength(): boolean; _emitError(e: Error): void; packet: { length: number } };

export class Broker {
  private aedes: Aedes | undefined;
  private readonly servers: Listening[] = [];
  readonly security: BrokerSecurity;
  private readonly states = new WeakMap<object, ClientState>();
  private readonly noisy: RateLimitedLog;
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
  ) {
    this.counters = new IngestCounters(metrics);
    this.gate = new AckGate(() => journal.committedPosition);
    this.security = new BrokerSecurity(log);
    this.noisy = new RateLimitedLog(log, 60_000);
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
    const metrics = this.metrics;
    const noisy = this.noisy;
    const lim = this.cfg.limits;
    const who = (client: Client): Who => states.get(client)?.who ?? { username: undefined, clientId: client.id };
    const persistence = this.openPersistence();
    this.aedes = await Aedes.createBroker({
      ...(persistence ? { persistence } : {}),
      // mqemitter's bounded concurrency recursed through released() → _do() until the
      // stack overflowed under a QoS 0 flood here; unbounded emits do not queue.
      concurrency: 0,
      maxInflightInbound: lim.max_inflight,
      maxTopicLevels: lim.max_topic_levels,
      keepaliveLimit: lim.keepalive_max,
      drainTimeout: lim.slow_consumer_timeout,
      connectTimeout: lim.connect_timeout,
      preConnect: (client, packet, cb) => {
        const st = states.get(client.conn);
        if (st) {
          states.set(client, st);
          // [MQTT-3.1.3-8]: an empty client id needs a clean session (aedes #1095 accepts it).
          st.emptyPersistentId = !packet.clientId && !packet.clean;
        }
        cb(null, true);
      },
      authenticate: (client, username, password, cb) => {
        const st = states.get(client);
        if (!st) return cb(Object.assign(new Error('unknown connection'), { returnCode: Connack.ServerUnavailable }), false);
        if (st.emptyPersistentId) {
          metrics.brokerAuthFailures.inc({ reason: 'identifier' });
          return cb(Object.assign(new Error('an empty client id needs clean session [MQTT-3.1.3-8]'), { returnCode: Connack.IdentifierRejected }), false);
        }
        if (lim.max_connections > 0 && this.aedes!.connectedClients >= lim.max_connections) {
          metrics.brokerAuthFailures.inc({ reason: 'max_connections' });
          noisy.warn('max_connections', { limit: lim.max_connections }, 'broker: max_connections reached; refusing new clients');
          return cb(Object.assign(new Error('server unavailable'), { returnCode: Connack.ServerUnavailable }), false);
        }
        security.authenticate(st.info, username, password).then(
          (r) => {
            if (r.ok) {
              st.username = r.username;
              st.who = { username: r.username, clientId: client.id };
              return cb(null, true);
            }
            metrics.brokerAuthFailures.inc({ reason: r.reason });
            noisy.warn(`auth:${r.reason}`, { remote: st.info.remote, listener: st.info.listener.bind, username, reason: r.reason }, 'broker: connection refused');
            cb(Object.assign(new Error(r.reason), { returnCode: r.code }), false);
          },
          (err: unknown) => cb(Object.assign(new Error(errorMessage(err)), { returnCode: Connack.ServerUnavailable }), false),
        );
      },
      authorizePublish(client, packet, cb) {
        if (!client) return cb(null);
        if (packet.topic.startsWith('$SYS/')) return cb(new Error('$SYS/ topics are reserved'));
        // What partners send is journaled under $partner/<name>/: a local client may not pose as one.
        if (packet.topic.startsWith('$partner/')) return cb(new Error('$partner/ topics are reserved for what partners send'));
        // [MQTT-1.5.3-1] ill-formed UTF-8 (and encoded surrogates, which mqtt-packet decodes to
        // U+FFFD) and [MQTT-1.5.3-2] U+0000 in a topic: the connection is closed, nothing is stored.
        if (packet.topic.includes('\uFFFD') || packet.topic.includes('\u0000')) {
          metrics.brokerDisconnects.inc({ reason: 'malformed_topic' });
          noisy.warn('malformed-topic', { client: client.id, topic: JSON.stringify(packet.topic).slice(0, 200) }, 'broker: a topic that is not well-formed UTF-8; closing the connection [MQTT-1.5.3-1]');
          return cb(new Error('topic is not well-formed UTF-8 [MQTT-1.5.3-1]'));
        }
        if (security.hasRules && !security.canPublish(who(client), packet.topic)) {
          // [MQTT-3.3.5-2]: acknowledge as usual and drop it; the client has no way to be told.
          metrics.brokerAclDenied.inc({ action: 'publish' });
          noisy.warn('acl:publish', { client: client.id, username: states.get(client)?.username, topic: packet.topic }, 'broker: publish denied by the ACL (dropped, counted)');
          packet.topic = '$fieldgate/denied';
          packet.payload = Buffer.alloc(0);
          packet.retain = false;
          return cb(null);
        }
        if (journal.blocked) return journal.whenUnblocked(() => accept(client, packet, cb));
        accept(client, packet, cb);
      },
      authorizeSubscribe(client, sub, cb) {
        if (sub.topic.startsWith('$fieldgate/') || (security.hasRules && !security.canSubscribe(who(client), sub.topic))) {
          metrics.brokerAclDenied.inc({ action: 'subscribe' });
          noisy.warn('acl:subscribe', { client: client.id, username: states.get(client)?.username, filter: sub.topic }, 'broker: subscription denied by the ACL (SUBACK 0x80)');
          return cb(null, null);
        }
        cb(null, sub);
      },
      authorizeForward(client, packet) {
        if (packet.topic === '$fieldgate/denied') return null;
        if (security.hasRules && !security.canReceive(who(client), packet.topic)) return null;
        counters.sent(packet.qos, packet.payload.length);
        return packet;
      },
    });
    const a = this.aedes;
    a.on('client', () => {
      this.metrics.brokerConnects.inc();
      this.metrics.brokerClients.set(a.connectedClients);
    });
    a.on('clientDisconnect', () => {
      this.metrics.brokerDisconnects.inc({ reason: 'disconnect' });
      this.metrics.brokerClients.set(a.connectedClients);
    });
    for (const reason of ['slow_consumer', 'queue_limit', 'packet_too_large']) this.metrics.brokerFloodDrops.inc({ reason }, 0);
    // aedes reports one error per failed delivery of a dropped slow consumer: count the client once.
    const ended = new WeakSet<object>();
    a.on('clientError', (c, err) => {
      const flood = /drain timeout/i.test(err.message) ? 'slow_consumer' : /queue limit/i.test(err.message) ? 'queue_limit' : /too large/.test(err.message) ? 'packet_too_large' : undefined;
      if (flood) this.metrics.brokerFloodDrops.inc({ reason: flood });
      if (c && ended.has(c)) return;
      if (c) ended.add(c);
      this.metrics.brokerDisconnects.inc({ reason: flood ?? 'error' });
      if (flood) {
        noisy.warn(`flood:${flood}`, { client: c?.id, reason: flood }, 'broker: dropped a client that flooded or fell behind');
      }
      this.log.debug({ err: errorMessage(err) }, 'broker: client error');
    });
    a.on('keepaliveTimeout', () => this.metrics.brokerDisconnects.inc({ reason: 'keepalive' }));
    a.on('connectionError', (_c, err) => {
      // MQTT 5 clients get CONNACK 1 (unacceptable protocol version) from aedes; say so once a minute.
      if (/protocol/i.test(err.message)) noisy.warn('mqtt5', { err: errorMessage(err) }, 'broker: refused a client for its protocol version (fieldgate speaks MQTT 3.1 and 3.1.1; MQTT 5 clients are refused with CONNACK 1)');
      this.log.debug({ err: errorMessage(err) }, 'broker: connection error');
    });
    const onStream = (stream: Duplex, info: ConnInfo) => {
      states.set(stream, { info });
      gate.attach(stream as never);
      const client = a.handle(stream) as unknown as { _parser: ParserInternals };
      // mqtt-packet has no size limit: check the remaining length as soon as it is parsed.
      const parser = client._parser;
      const parseLength = parser._parseLength.bind(parser);
      parser._parseLength = function (this: ParserInternals) {
        const ok = parseLength.call(this);
        if (ok && this.packet.length > lim.max_packet_size) {
          this._emitError(new Error(`packet too large: ${this.packet.length} bytes (limits.max_packet_size ${lim.max_packet_size})`));
          return false;
        }
        return ok;
      };
    };
    for (const l of this.cfg.listeners) {
      const s = await listen(l, onStream, (err) => this.log.debug({ err: errorMessage(err), bind: l.bind }, 'broker: TLS handshake failed'), (err) => acceptFailed(this.metrics, this.noisy, `broker:${l.type}`, err));
      this.bound.push({ host: s.host, port: s.port });
      this.servers.push(s);
      this.log.info({ listener: l.type, bind: l.bind, ...(l.type === 'ws' || l.type === 'wss' ? { path: l.path } : {}), anonymous: BrokerSecurity.anonymousAllowed(l, isLoopbackBind(l.bind)) }, 'broker: listening');
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
