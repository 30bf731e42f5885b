/**
 * What aedes gets of a connection per turn of the event loop: reads of at most `slice.bytes`, and
 * at most `slice.packets` publishes for aedes's own path. aedes parses everything a connection has
 * buffered in one go (conn.read(null): the 16 KiB the stream holds plus one 64 KiB read of libuv,
 * about 3,800 QoS 0 single values) and handles all of it at once, each with a Packet, closures, and
 * for each subscriber an Immediate and a second Packet that live until the check phase. Under a
 * QoS 0 flood with a subscriber, four publishers put up to ~15,000 deliveries in flight per turn:
 * they outlived two scavenges (a sampling heap profile counted ~110 MB/s promoted to the old space),
 * and V8, seeing the old space fill that fast, let it grow to 4× its live size between collections
 * (docs/architecture.md, on the broker).
 *
 * aedes's read finds nothing while packets wait here, or once the turn's slice is spent; a read that
 * leaves data buffered is followed by the next (pump) as soon as aedes has nothing in hand, in the
 * same turn when the packets ended at once (the lean path's: journaled and acknowledged, nothing
 * delivered; they do not count against the slice), else in the next. Publishes past the slice wait
 * in order and go to aedes in the next turns [MQTT-4.6.0-2]. mqtt-packet's parser is not
 * re-entrant: a read called back from inside a parse waits until it returns.
 *
 * Measured (test/broker/flood.test.ts, interleaved): peak RSS 550-588 MB without slices, 491-501 MB
 * with 64 packets per turn, 411-422 MB with reads of 8 KiB as well; the flood's rate and /healthz did
 * not suffer (details and the CPU of single values in docs/architecture.md).
 */

/** aedes internals this relies on (aedes 1.2, lib/client.js); checked at install. */
interface ParsingClient {
  _parser: {
    listeners(e: string): Array<(this: unknown, p: unknown) => unknown>;
    removeListener(e: string, f: unknown): void;
    on(e: string, f: unknown): void;
    parse: (this: unknown, buf: Buffer) => unknown;
  };
  _parsingBatch: number;
  _paused?: boolean;
  closed: boolean;
  conn: { read: (this: unknown, n?: number | null) => Buffer | null; readableLength?: number; on(e: 'readable', f: () => void): unknown };
}

export interface Slice {
  /** Packets per connection and turn that go to aedes's own path (the lean path's do not count). */
  packets: number;
  /** Bytes per read: what aedes parses at once. */
  bytes: number;
}

/**
 * Puts the slicing in front of the client's one 'packet' listener (aedes's, or the lean path's);
 * false, and nothing changed, when aedes's internals are not as expected. A packet the listener
 * returns true for (the lean path took it: journaled and acknowledged in the turn, nothing
 * delivered) does not count.
 */
export function sliceReads(client: unknown, slice: Slice): boolean {
  const c = client as Partial<ParsingClient>;
  const parser = c._parser;
  const conn = c.conn;
  const listeners = parser?.listeners('packet');
  if (!parser || !conn || typeof conn.read !== 'function' || listeners?.length !== 1 || typeof c._parsingBatch !== 'number') return false;
  const ci = c as ParsingClient;
  const inner = listeners[0];
  const read = conn.read;
  let waiting: unknown[] = [];
  let head = 0;
  let budget = slice.packets;
  let scheduled = false;
  let pumping = false;
  // Data arrived ('readable'): aedes's own read on 'readable' takes all that is buffered whatever it
  // still has in hand (its nextBatch counts the event as a packet done), so a publisher is not held
  // by one slow delivery. Until the buffer is drained, the pump reads on as that read would have.
  let owed = false;
  // aedes reads its next batch with conn.read(null) once it is done with the last one (its
  // _parsingBatch at 0). That read takes at most slice.bytes, so what it parses at once (and what
  // may wait here) stays small; it finds nothing while packets wait or the turn's slice is spent.
  const gatedRead = function gatedRead(this: unknown, n?: number | null): Buffer | null {
    if (n !== null) return read.call(this, n);
    if (head < waiting.length || budget <= 0) {
      schedule();
      return null;
    }
    // Called back from inside a parse (a packet done at once): mqtt-packet's parser is not
    // re-entrant, and with part of the data still buffered this read would find some. Read after.
    if (parsing > 0) {
      queuePump();
      return null;
    }
    const len = conn.readableLength ?? 0;
    // All of it (or nothing): the stream calls 'readable' again when more arrives, as aedes expects.
    if (len <= slice.bytes) {
      owed = false;
      return read.call(this, null);
    }
    // Part of it: the rest is read once this part is through (pump).
    queuePump();
    return read.call(this, slice.bytes);
  };
  conn.read = gatedRead;
  conn.on('readable', () => {
    owed = true;
    queuePump();
  });
  const parse = parser.parse;
  let parsing = 0;
  parser.parse = function parseOnce(this: unknown, buf: Buffer) {
    parsing++;
    try {
      return parse.call(this, buf);
    } finally {
      parsing--;
    }
  };
  function queuePump(): void {
    if (pumping) return;
    pumping = true;
    process.nextTick(pump);
  }
  /** Reads on for aedes while it has nothing in hand (the lean path's packets end in the turn) or data it owes a read. */
  function pump(): void {
    pumping = false;
    while (!ci.closed && !ci._paused && (ci._parsingBatch <= 0 || owed)) {
      const buf = gatedRead.call(conn, null);
      if (!buf) return;
      ci._parser.parse(buf);
    }
  }
  const turn = (): void => {
    scheduled = false;
    budget = slice.packets;
    // A closed client reads nothing more; what waits is dropped as aedes drops its parser's queue.
    if (ci.closed) {
      waiting = [];
      head = 0;
      return;
    }
    while (head < waiting.length && budget > 0) if (inner.call(parser, waiting[head++]) !== true) budget--;
    if (head < waiting.length) return schedule();
    waiting = [];
    head = 0;
    pump();
  };
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(turn);
  }
  parser.removeListener('packet', inner);
  parser.on('packet', function sliced(this: unknown, packet: unknown) {
    if (head === waiting.length && budget > 0) {
      if (inner.call(this, packet) === true) return;
      if (budget === slice.packets) schedule();
      budget--;
      return;
    }
    waiting.push(packet);
    schedule();
  });
  return true;
}
