/**
 * The lean publish path: a QoS 0/1 PUBLISH that no subscriber can receive is journaled straight
 * from the parsed packet, through the same authorizePublish hook, and its PUBACK is four bytes
 * in the AckGate. aedes keeps everything else: CONNECT, SUBSCRIBE, retained messages, QoS 2,
 * wills, keep-alive, and every publish that someone subscribed to.
 *
 * Why: under a flood of single values from devices, aedes's per-publish path (handlePublish's
 * runSeries, the PubAck object and mqtt-packet's three writes, a setImmediate per PUBACK, a new
 * Packet and PublishState, two subscription matches: mqemitter's and the persistence's, debug
 * calls) cost more CPU than the journal and the store together (profile in the commit that added
 * this file). For a message nobody subscribed to, all of it delivers nothing.
 *
 * What stays as aedes does it (lib/handlers/index.js, publish.js, client.js):
 * - topic checks (empty, wildcards, too many levels) and anything not plain go to aedes;
 * - the hook's error closes the connection as aedes's done(err) does (client._nextBatch(err));
 * - a publish the hook holds back (full journal, batch.max_lag) counts in aedes's _parsingBatch,
 *   so aedes reads nothing more from that client until it is admitted;
 * - [MQTT-3.1.2-24] the keep-alive timer is refreshed per packet;
 * - [MQTT-4.6.0-2] PUBACKs leave in the order of the PUBLISHes (one queue per socket, the gate's).
 *
 * "No subscriber" is a per-topic answer cached under a generation that every subscribe and
 * unsubscribe (mqemitter's listeners and the persistence's stored subscriptions) moves on; a topic
 * not yet known goes through aedes while both matchers are asked.
 */
import type { Aedes, AuthorizePublishHandler, Client, PublishPacket } from 'aedes';
import type { AckGate } from './ack-gate.js';
import type { IngestCounters } from './ingest.js';
import type { Logger } from '../telemetry/logger.js';

/** aedes internals the lean path relies on (aedes 1.2); checked at install, off with a warning when missing. */
interface ClientInternals {
  _parser: { listeners(e: string): Array<(this: unknown, p: unknown) => void>; removeListener(e: string, f: unknown): void; on(e: string, f: unknown): void };
  _nextBatch(err?: Error | null): void;
  _parsingBatch: number;
  _keepaliveInterval: number;
  _keepaliveTimer?: { refresh(): void } | null;
  connected: boolean;
  connackSent: boolean;
  conn: unknown;
}

interface Matcher {
  match(topic: string): unknown[];
}
interface Emitter {
  _matcher: Matcher;
  on(...a: unknown[]): unknown;
  removeListener(...a: unknown[]): unknown;
  removeAllListeners(...a: unknown[]): unknown;
}
interface SubscriptionStore {
  subscriptionsByTopic(topic: string): Promise<unknown[]>;
  addSubscriptions(...a: unknown[]): Promise<unknown>;
  removeSubscriptions(...a: unknown[]): Promise<unknown>;
  cleanSubscriptions(...a: unknown[]): Promise<unknown>;
}

/** Topics remembered; past it the cache starts again (a plant has far fewer topics than this). */
const MAX_TOPICS = 50_000;
/** Topics being asked about at once. */
const MAX_PENDING = 256;

/** Which topics nobody can receive, per generation of the subscriptions. */
export class SubscriberIndex {
  private generation = 0;
  /** topic → true: nobody subscribed; false: someone may have. Cleared with each generation. */
  private readonly known = new Map<string, boolean>();
  private readonly pending = new Set<string>();

  constructor(
    private readonly mq: Emitter,
    private readonly store: SubscriptionStore,
    private readonly maxTopicLevels: number,
  ) {
    const moved = (): void => {
      this.generation++;
      this.known.clear();
    };
    // mqemitter adds synchronously and removes on the next turn: either moves the generation.
    for (const m of ['on', 'removeListener', 'removeAllListeners'] as const) {
      const orig = mq[m].bind(mq);
      mq[m] = (...a: unknown[]) => {
        moved();
        return orig(...a);
      };
    }
    // The stored subscriptions change after awaits: before and after both move it, so an answer
    // read in between is not kept.
    for (const m of ['addSubscriptions', 'removeSubscriptions', 'cleanSubscriptions'] as const) {
      const orig = store[m].bind(store);
      store[m] = (...a: unknown[]) => {
        moved();
        return orig(...a).finally(moved);
      };
    }
  }

  /**
   * True when `topic` is plain and known to reach nobody; otherwise false, and the answer is looked
   * up for next time. A topic that is not plain is remembered as false: aedes refuses it.
   */
  nobody(topic: string): boolean {
    const k = this.known.get(topic);
    if (k !== undefined) return k;
    this.lookUp(topic);
    return false;
  }

  private lookUp(topic: string): void {
    if (this.pending.has(topic) || this.pending.size >= MAX_PENDING) return;
    const gen = this.generation;
    if (!plainTopic(topic, this.maxTopicLevels) || this.mq._matcher.match(topic).length > 0) return this.remember(topic, false);
    this.pending.add(topic);
    this.store.subscriptionsByTopic(topic).then(
      (subs) => {
        this.pending.delete(topic);
        if (gen === this.generation) this.remember(topic, subs.length === 0 && this.mq._matcher.match(topic).length === 0);
      },
      () => this.pending.delete(topic),
    );
  }

  private remember(topic: string, nobody: boolean): void {
    if (this.known.size >= MAX_TOPICS) this.known.clear();
    this.known.set(topic, nobody);
  }
}

/** A topic aedes would take as it is: not empty, no wildcard, not too deep. */
function plainTopic(topic: string, maxLevels: number): boolean {
  if (topic.length === 0 || topic.includes('#') || topic.includes('+')) return false;
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) if (++levels > maxLevels) return false;
  return true;
}

export interface LeanPath {
  /**
   * Installs the lean path on a client aedes just created; false when aedes's internals are not as
   * expected. Its 'packet' listener returns true for a packet it took (read-slices.ts does not
   * count those against its slice).
   */
  install(client: Client): boolean;
}

export function leanPublishPath(
  aedes: Aedes,
  authorize: AuthorizePublishHandler,
  gate: AckGate,
  counters: IngestCounters,
  maxTopicLevels: number,
  log: Logger,
): LeanPath | undefined {
  const internals = aedes as unknown as { mq?: Partial<Emitter>; persistence?: Partial<SubscriptionStore> };
  const mq = internals.mq;
  const store = internals.persistence;
  if (
    typeof mq?._matcher?.match !== 'function' ||
    typeof mq.on !== 'function' ||
    typeof store?.subscriptionsByTopic !== 'function' ||
    typeof store.addSubscriptions !== 'function' ||
    typeof store.removeSubscriptions !== 'function' ||
    typeof store.cleanSubscriptions !== 'function'
  ) {
    log.warn('broker: aedes changed (no mq._matcher or persistence subscriptions); every publish takes aedes’s own path');
    return undefined;
  }
  const index = new SubscriberIndex(mq as Emitter, store as SubscriptionStore, maxTopicLevels);
  let warned = false;
  return {
    install(client: Client): boolean {
      const c = client as unknown as Partial<ClientInternals>;
      const parser = c._parser;
      const listeners = parser?.listeners('packet');
      if (!parser || listeners?.length !== 1 || typeof c._nextBatch !== 'function' || typeof c._parsingBatch !== 'number') {
        if (!warned) log.warn('broker: aedes changed (client parser internals); every publish takes aedes’s own path');
        warned = true;
        return false;
      }
      const ci = c as ClientInternals;
      const aedesEnqueue = listeners[0];
      const ack = gate.acker(ci.conn);
      parser.removeListener('packet', aedesEnqueue);
      parser.on('packet', function lean(this: unknown, packet: PublishPacket): boolean {
        if (packet.cmd !== 'publish' || packet.qos === 2 || packet.retain || !ci.connackSent || !ci.connected || !index.nobody(packet.topic)) {
          aedesEnqueue.call(this, packet);
          return false;
        }
        if (ci._keepaliveInterval > 0) ci._keepaliveTimer?.refresh();
        counters.lean++;
        // Counted as aedes's enqueue counts a packet. Called back in this turn, it is done and the
        // count goes back (the parser is still walking this read: nothing more is read here).
        // Held back (full journal, batch.max_lag, the uncommitted cap), it stays counted and its
        // completion is aedes's done: the next read waits for it.
        ci._parsingBatch++;
        let sync = true;
        authorize(client, packet, (err) => {
          // aedes's done(err): the client errors and closes; nothing more is read from it.
          if (err) return ci._nextBatch(err);
          if (packet.qos === 1 && ci.connected) ack(packet.messageId!);
          if (sync) ci._parsingBatch--;
          else ci._nextBatch();
        });
        sync = false;
        return true;
      });
      return true;
    },
  };
}
