/**
 * At most `slice` packets of a connection per turn of the event loop. aedes parses everything a
 * connection has buffered in one go (conn.read(null): up to the 16 KiB the stream holds plus one
 * 64 KiB read of libuv, about 3,800 QoS 0 single values) and handles all of it at once, each with
 * a Packet, closures, and for each subscriber an Immediate and a second Packet that live until the
 * check phase. Under a QoS 0 flood with a subscriber, four publishers put up to ~15,000 deliveries
 * in flight per turn: they outlived two scavenges (a sampling heap profile counted ~110 MB/s
 * promoted to the old space), and the main heap swung between 60 and 200 MB with 40-55 MB live
 * (docs/architecture.md, on the broker). The lean path's packets (journaled and acknowledged in the
 * turn, nothing delivered) do not count against the slice.
 *
 * The packets past the slice wait here in order and go to aedes in the next turns. Meanwhile the
 * connection's conn.read(null), which aedes calls for its next batch, finds nothing, so no more
 * than one read's packets ever wait; the turn that hands over the last of them reads on for aedes.
 * Order is kept: a packet that arrives while some wait goes behind them [MQTT-4.6.0-2].
 * Measured (test/broker/flood.test.ts, three runs each, interleaved): peak RSS 550-588 MB at
 * 114k-128k msg/s without slices, 491-501 MB at 142k-166k msg/s with 64; QoS 1 single values to a
 * subscribed topic: 84k-93k msg/s at 13.1-14.6 µs CPU each without, 105k-108k at 11.2-11.4 with.
 */

/** aedes internals this relies on (aedes 1.2, lib/client.js); checked at install. */
interface ParsingClient {
  _parser: {
    listeners(e: string): Array<(this: unknown, p: unknown) => void>;
    removeListener(e: string, f: unknown): void;
    on(e: string, f: unknown): void;
    parse(buf: Buffer): unknown;
  };
  _parsingBatch: number;
  _paused?: boolean;
  closed: boolean;
  conn: { read: (this: unknown, n?: number | null) => Buffer | null };
}

/**
 * Puts the slicing in front of the client's one 'packet' listener (aedes's, or the lean path's);
 * false, and nothing changed, when aedes's internals are not as expected. `light` packets (the
 * lean path's: journaled and acknowledged in the turn, nothing delivered) do not count.
 */
export function sliceReads(client: unknown, slice: number, light?: (packet: never) => boolean): boolean {
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
  let budget = slice;
  let scheduled = false;
  // aedes reads the next batch with conn.read(null) once it is done with the last one (its
  // _parsingBatch at 0). While packets wait here, that read finds nothing, so a connection never
  // has more than one read's packets waiting; the last turn reads on for aedes.
  conn.read = function gatedRead(this: unknown, n?: number | null) {
    if (n === null && head < waiting.length) return null;
    return read.call(this, n);
  };
  const turn = (): void => {
    scheduled = false;
    budget = slice;
    if (head === waiting.length) return;
    // A closed client reads nothing more; what waits is dropped as aedes drops its parser's queue.
    if (ci.closed) {
      waiting = [];
      head = 0;
      return;
    }
    while (head < waiting.length && budget > 0) {
      const packet = waiting[head++];
      if (!light?.(packet as never)) budget--;
      inner.call(parser, packet);
    }
    if (head < waiting.length) return schedule();
    waiting = [];
    head = 0;
    // aedes has finished what it was given and its read found nothing: read for it (as its nextBatch does).
    if (ci._parsingBatch <= 0 && !ci._paused && !ci.closed) {
      const buf = read.call(conn, null);
      if (buf) parser.parse(buf);
    }
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(turn);
  };
  parser.removeListener('packet', inner);
  parser.on('packet', function sliced(this: unknown, packet: unknown) {
    if (head === waiting.length && budget > 0) {
      if (!light?.(packet as never)) {
        if (budget === slice) schedule();
        budget--;
      }
      return inner.call(this, packet);
    }
    waiting.push(packet);
    schedule();
  });
  return true;
}
