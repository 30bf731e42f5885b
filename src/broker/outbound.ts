/**
 * A bound on what a subscriber may have unsent. aedes (with mqemitter's concurrency 0, see
 * broker.ts) writes every QoS 0 delivery into the subscriber's socket whether or not it drains,
 * so a subscriber that stops reading grew the socket's write queue without end until
 * limits.slow_consumer_timeout (25 MiB in test/broker/slow-consumer.test.ts; the flood test's heap
 * was another cause, see listeners.ts). QoS 0 is at most once: past the bound its deliveries to
 * that subscriber are dropped and counted (mosquitto and HiveMQ drop QoS 0 to a client that
 * cannot take more the same way). QoS 1 and 2 are untouched: a subscriber that stops reading
 * those is disconnected by limits.slow_consumer_timeout.
 */
import type { Writable } from 'node:stream';

interface DeliveringClient {
  id: string | null;
  conn: Writable;
  deliver0: (packet: unknown, cb: () => void) => void;
}

/**
 * Wraps the client's QoS 0 delivery (aedes takes `client.deliver0` when a subscription is made
 * and calls it for every QoS 0 delivery, so this must run before the client subscribes: at handle time).
 */
export function boundQos0(client: unknown, maxBytes: number, dropped: (clientId: string | null) => void): void {
  const c = client as DeliveringClient;
  if (typeof c.deliver0 !== 'function' || !c.conn) {
    throw new Error('aedes changed: its client has no deliver0/conn, so limits.max_unsent cannot be applied; pin aedes 1.2.x or update src/broker/outbound.ts');
  }
  const deliver0 = c.deliver0;
  c.deliver0 = (packet, cb) => {
    if (c.conn.writableLength > maxBytes) {
      dropped(c.id);
      // As aedes does for a delivery it does not make: the callback on the next turn.
      setImmediate(cb);
      return;
    }
    deliver0(packet, cb);
  };
}
