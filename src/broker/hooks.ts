/**
 * The aedes hooks, one named function each (aedes keeps one handler per packet type the same way).
 * Each takes the broker's HookContext and returns the hook aedes calls.
 */
import type {
  AuthenticateHandler,
  AuthorizeForwardHandler,
  AuthorizePublishHandler,
  AuthorizeSubscribeHandler,
  Client,
  PreConnectHandler,
  PublishPacket,
} from 'aedes';
import { errorMessage } from '../core/errors.js';
import type { JournalPort } from '../core/ports.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { RateLimitedLog } from '../telemetry/logger.js';
import type { Who } from './acl.js';
import type { BrokerConfig } from './config.js';
import type { IngestCounters } from './ingest.js';
import { Connack, type BrokerSecurity, type ConnInfo } from './security.js';

/** What the broker knows of a connection before and after CONNECT. */
export interface ClientState {
  info: ConnInfo;
  username?: string;
  /** Who the ACL sees, made once at CONNECT (the checks run per message and per delivery). */
  who?: Who;
  /** CONNECT asked for a persistent session with an empty client id [MQTT-3.1.3-8]. */
  emptyPersistentId?: boolean;
}

/** Something that may hold publishers back for a while (batch.max_lag). */
export interface HeldBack {
  readonly active: boolean;
  whenReleased(cb: () => void): void;
}

export interface HookContext {
  /** Per connection (keyed by its stream, then by the aedes client). */
  states: WeakMap<object, ClientState>;
  security: BrokerSecurity;
  metrics: Metrics;
  limitedLog: RateLimitedLog;
  limits: BrokerConfig['limits'];
  journal: JournalPort;
  /** batch.max_lag's pushback; absent when off. */
  pushback?: HeldBack;
  counters: IngestCounters;
  connectedClients(): number;
  /** Appends an allowed PUBLISH to the journal and calls back (see broker.ts). */
  accept(client: Client, packet: PublishPacket, cb: (err?: Error | null) => void): void;
}

function who(ctx: HookContext, client: Client): Who {
  return ctx.states.get(client)?.who ?? { username: undefined, clientId: client.id };
}

/** Carries the connection's ConnInfo to the client; notes an empty client id with a persistent session [MQTT-3.1.3-8]. */
export function preConnect(ctx: HookContext): PreConnectHandler {
  const { states } = ctx;
  return (client, packet, cb) => {
    const st = states.get(client.conn);
    if (st) {
      states.set(client, st);
      // [MQTT-3.1.3-8]: an empty client id needs a clean session (aedes #1095 accepts it).
      st.emptyPersistentId = !packet.clientId && !packet.clean;
    }
    cb(null, true);
  };
}

/** CONNECT: the identifier rule, max_connections, then users (passwords, certificates, anonymous per listener). */
export function authenticate(ctx: HookContext): AuthenticateHandler {
  const { states, security, metrics, limitedLog, limits } = ctx;
  return (client, username, password, cb) => {
    const st = states.get(client);
    if (!st) return cb(Object.assign(new Error('unknown connection'), { returnCode: Connack.ServerUnavailable }), false);
    if (st.emptyPersistentId) {
      metrics.brokerAuthFailures.inc({ reason: 'identifier' });
      return cb(Object.assign(new Error('an empty client id needs clean session [MQTT-3.1.3-8]'), { returnCode: Connack.IdentifierRejected }), false);
    }
    if (limits.max_connections > 0 && ctx.connectedClients() >= limits.max_connections) {
      metrics.brokerAuthFailures.inc({ reason: 'max_connections' });
      limitedLog.warn('max_connections', { limit: limits.max_connections }, 'broker: max_connections reached; refusing new clients');
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
        limitedLog.warn(
          `auth:${r.reason}`,
          { remote: st.info.remote, listener: st.info.listener.bind, username, reason: r.reason },
          'broker: connection refused',
        );
        cb(Object.assign(new Error(r.reason), { returnCode: r.code }), false);
      },
      (err: unknown) => cb(Object.assign(new Error(errorMessage(err)), { returnCode: Connack.ServerUnavailable }), false),
    );
  };
}

/** PUBLISH: reserved topics, well-formed UTF-8, the ACL (denied: acknowledged and dropped), then the journal (accept). */
export function authorizePublish(ctx: HookContext): AuthorizePublishHandler {
  const { states, security, metrics, limitedLog, journal, pushback } = ctx;
  return (client, packet, cb) => {
    if (!client) return cb(null);
    if (packet.topic.startsWith('$SYS/')) return cb(new Error('$SYS/ topics are reserved'));
    // What partners send is journaled under $partner/<name>/: a local client may not pose as one.
    if (packet.topic.startsWith('$partner/')) return cb(new Error('$partner/ topics are reserved for what partners send'));
    // [MQTT-1.5.3-1] ill-formed UTF-8 (and encoded surrogates, which mqtt-packet decodes to
    // U+FFFD) and [MQTT-1.5.3-2] U+0000 in a topic: the connection is closed, nothing is stored.
    if (packet.topic.includes('\uFFFD') || packet.topic.includes('\u0000')) {
      metrics.brokerDisconnects.inc({ reason: 'malformed_topic' });
      limitedLog.warn(
        'malformed-topic',
        { client: client.id, topic: JSON.stringify(packet.topic).slice(0, 200) },
        'broker: a topic that is not well-formed UTF-8; closing the connection [MQTT-1.5.3-1]',
      );
      return cb(new Error('topic is not well-formed UTF-8 [MQTT-1.5.3-1]'));
    }
    if (security.hasRules && !security.canPublish(who(ctx, client), packet.topic)) {
      // [MQTT-3.3.5-2]: acknowledge as usual and drop it; the client has no way to be told.
      metrics.brokerAclDenied.inc({ action: 'publish' });
      limitedLog.warn(
        'acl:publish',
        { client: client.id, username: states.get(client)?.username, topic: packet.topic },
        'broker: publish denied by the ACL (dropped, counted)',
      );
      packet.topic = '$fieldgate/denied';
      packet.payload = Buffer.alloc(0);
      packet.retain = false;
      return cb(null);
    }
    if (!journal.blocked && !pushback?.active) return ctx.accept(client, packet, cb);
    // A full journal, or a store falling behind (batch.max_lag): the message waits for acceptance,
    // and so does its PUBACK; aedes reads nothing more from this client meanwhile.
    const admit = (): void => {
      if (journal.blocked) return journal.whenUnblocked(admit);
      if (pushback?.active) return pushback.whenReleased(admit);
      ctx.accept(client, packet, cb);
    };
    admit();
  };
}

/** SUBSCRIBE: the ACL; a denied filter gets 0x80. */
export function authorizeSubscribe(ctx: HookContext): AuthorizeSubscribeHandler {
  const { states, security, metrics, limitedLog } = ctx;
  return (client, sub, cb) => {
    if (sub.topic.startsWith('$fieldgate/') || (security.hasRules && !security.canSubscribe(who(ctx, client), sub.topic))) {
      metrics.brokerAclDenied.inc({ action: 'subscribe' });
      limitedLog.warn(
        'acl:subscribe',
        { client: client.id, username: states.get(client)?.username, filter: sub.topic },
        'broker: subscription denied by the ACL (SUBACK 0x80)',
      );
      return cb(null, null);
    }
    cb(null, sub);
  };
}

/** Each delivery: the ACL for the receiver's topic; counted. */
export function authorizeForward(ctx: HookContext): AuthorizeForwardHandler {
  const { security, counters } = ctx;
  return (client, packet) => {
    if (packet.topic === '$fieldgate/denied') return null;
    if (security.hasRules && !security.canReceive(who(ctx, client), packet.topic)) return null;
    counters.sent(packet.qos, packet.payload.length);
    return packet;
  };
}
