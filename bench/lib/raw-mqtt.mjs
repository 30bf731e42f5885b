// A raw MQTT 3.1.1 publisher for tests and benchmarks: pre-encoded PUBLISH
// packets written in batches, PUBACKs parsed by hand (4 bytes each), per-message
// latency recorded. No retransmission: a message whose PUBACK never came is
// reported as unacknowledged, which is what crash and outage tests need.
import { connect } from 'node:net';

function remainingLength(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** Encodes a PUBLISH; for QoS > 0 the message id sits at `idOffset`. */
export function encodePublish(topic, payload, qos, messageId = 1) {
  const t = Buffer.from(topic);
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload));
  const rem = 2 + t.length + (qos > 0 ? 2 : 0) + p.length;
  const head = [0x30 | (qos << 1), ...remainingLength(rem)];
  const buf = Buffer.alloc(head.length + rem);
  let o = 0;
  for (const b of head) buf[o++] = b;
  buf.writeUInt16BE(t.length, o);
  o += 2;
  o += t.copy(buf, o);
  const idOffset = qos > 0 ? o : -1;
  if (qos > 0) {
    buf.writeUInt16BE(messageId, o);
    o += 2;
  }
  p.copy(buf, o);
  return { buf, idOffset };
}

function encodeConnect(clientId, keepalive = 60) {
  const id = Buffer.from(clientId);
  const rem = 10 + 2 + id.length;
  const buf = Buffer.alloc(2 + rem);
  let o = 0;
  buf[o++] = 0x10;
  buf[o++] = rem;
  buf.writeUInt16BE(4, o);
  o += 2;
  o += buf.write('MQTT', o);
  buf[o++] = 4; // protocol level 3.1.1
  buf[o++] = 0x02; // clean session
  buf.writeUInt16BE(keepalive, o);
  o += 2;
  buf.writeUInt16BE(id.length, o);
  o += 2;
  id.copy(buf, o);
  return buf;
}

export class RawPublisher {
  /**
   * @param {{host?: string, port: number, clientId: string, qos?: number, inflight?: number, onAck?: (tag: number, latencyMs: number) => void}} o
   */
  constructor(o) {
    this.o = { host: '127.0.0.1', qos: 1, inflight: 1000, ...o };
    this.socket = undefined;
    this.connected = false;
    this.nextId = 1;
    this.variant = 0;
    /** messageId → [tag, sentAt] */
    this.pending = new Map();
    this.acked = 0;
    this.sent = 0;
    this.rest = Buffer.alloc(0);
    this.waiters = [];
  }

  connect() {
    return new Promise((resolve, reject) => {
      const s = connect(this.o.port, this.o.host);
      s.setNoDelay(true);
      this.socket = s;
      let done = false;
      s.on('connect', () => s.write(encodeConnect(this.o.clientId)));
      s.on('data', (d) => {
        if (!done) {
          // CONNACK: 0x20 0x02 flags rc
          this.rest = Buffer.concat([this.rest, d]);
          if (this.rest.length < 4) return;
          done = true;
          if (this.rest[0] !== 0x20 || this.rest[3] !== 0) return reject(new Error(`CONNACK refused: ${this.rest.subarray(0, 4).toString('hex')}`));
          this.rest = this.rest.subarray(4);
          this.connected = true;
          resolve();
          if (this.rest.length) this.onData(Buffer.alloc(0));
          return;
        }
        this.onData(d);
      });
      s.on('error', (err) => {
        if (!done) {
          done = true;
          reject(err);
        }
      });
      s.on('close', () => {
        this.connected = false;
        if (!done) {
          done = true;
          reject(new Error('closed before CONNACK'));
        }
        this.flushWaiters();
      });
    });
  }

  onData(d) {
    const b = this.rest.length ? Buffer.concat([this.rest, d]) : d;
    let o = 0;
    const now = performance.now();
    while (o + 2 <= b.length) {
      const type = b[o] >> 4;
      const len = b[o + 1]; // PUBACK/PINGRESP are short
      if (o + 2 + len > b.length) break;
      if (type === 4 && len === 2) {
        const id = b.readUInt16BE(o + 2);
        const p = this.pending.get(id);
        if (p) {
          this.pending.delete(id);
          this.acked++;
          this.o.onAck?.(p[0], now - p[1]);
        }
      }
      o += 2 + len;
    }
    this.rest = o < b.length ? Buffer.from(b.subarray(o)) : Buffer.alloc(0);
    this.flushWaiters();
  }

  flushWaiters() {
    if (this.pending.size < this.o.inflight || !this.connected) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves when there is room in the in-flight window (or the connection closed). */
  room() {
    if (this.pending.size < this.o.inflight || !this.connected) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  allocId() {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 65535) + 1;
      if (!this.pending.has(id)) return id;
    }
    throw new Error('no free message id');
  }

  /** Publishes one message; `tag` is what onAck reports back. Returns false when not connected. */
  publish(topic, payload, tag = 0) {
    if (!this.connected) return false;
    const qos = this.o.qos;
    const id = qos > 0 ? this.allocId() : 0;
    const { buf } = encodePublish(topic, payload, qos, id);
    if (qos > 0) this.pending.set(id, [tag, performance.now()]);
    this.sent++;
    this.socket.write(buf);
    return true;
  }

  /**
   * Writes many pre-encoded packets (patched with fresh message ids) in one write. A template with
   * `variants` (encodePublish results) sends them in turn, one per message, carrying on from the
   * last batch: Sparkplug B data whose seq must count up.
   */
  publishBatch(template, count, tag = 0) {
    if (!this.connected) return false;
    const variants = template.variants;
    let size = 0;
    for (let i = 0; i < count; i++) size += (variants ? variants[(this.variant + i) % variants.length] : template).buf.length;
    const out = Buffer.allocUnsafe(size);
    const now = performance.now();
    let o = 0;
    for (let i = 0; i < count; i++) {
      const { buf, idOffset } = variants ? variants[this.variant++ % variants.length] : template;
      buf.copy(out, o);
      if (idOffset >= 0) {
        const id = this.allocId();
        out.writeUInt16BE(id, o + idOffset);
        this.pending.set(id, [tag, now]);
      }
      o += buf.length;
    }
    this.sent += count;
    return this.socket.write(out);
  }

  /** Resolves once the socket can take more (after a write returned false), or it closed. */
  drained() {
    const s = this.socket;
    if (!s || !s.writableNeedDrain || s.destroyed) return Promise.resolve();
    return new Promise((r) => {
      s.once('drain', r);
      s.once('close', r);
    });
  }

  /** Unacknowledged messages (their tags) — after a crash these may or may not have been stored. */
  unacked() {
    return [...this.pending.values()].map((p) => p[0]);
  }

  close() {
    if (this.socket && !this.socket.destroyed) this.socket.end(Buffer.from([0xe0, 0x00]));
  }

  destroy() {
    this.socket?.destroy();
  }
}

/** `n` connected QoS 1 publishers on loopback `port`, `inflight` messages in flight each. */
export async function connectPublishers(port, n, prefix, inflight = 1000) {
  const pubs = [];
  for (let i = 0; i < n; i++) {
    const p = new RawPublisher({ port, clientId: `${prefix}-${i}-${Date.now()}`, qos: 1, inflight });
    await p.connect();
    pubs.push(p);
  }
  return pubs;
}

/**
 * Flat out: every publisher sends `template` as fast as its in-flight window allows (batches of at
 * most 250) until performance.now() passes `until`, then waits for the acknowledgements still due
 * (while it is connected). The load of the ingest benchmarks and the pushback test.
 */
export async function floodUntil(pubs, template, until) {
  const tick = () => new Promise((r) => setTimeout(r, 0));
  await Promise.all(
    pubs.map(async (p, i) => {
      // A function gives each publisher its own template (a Sparkplug edge node per connection).
      const t = typeof template === 'function' ? template(i) : template;
      while (performance.now() < until) {
        await p.room();
        const room = p.o.inflight - p.pending.size;
        if (room > 0) p.publishBatch(t, Math.min(room, 250));
        else await tick();
      }
      while (p.pending.size > 0 && p.connected) await new Promise((r) => setTimeout(r, 1));
    }),
  );
}
