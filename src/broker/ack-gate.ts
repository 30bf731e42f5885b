/**
 * Holds a connection's outgoing bytes until the journal has committed what
 * that connection published before them.
 *
 * aedes writes a PUBACK (or PUBREC) right after authorizePublish calls back,
 * and reads a socket's next buffer only once every packet of the previous one
 * was called back. Holding the callback until the group commit would tie a
 * publisher's throughput to the commit interval (measured here: half the bare
 * broker's rate). Instead the callback returns at once and the PUBACK bytes
 * wait here: a publisher still never sees an acknowledgement for a message
 * that is not durable, and aedes keeps reading while the commit runs.
 * MQTT-4.6.0-2 (PUBACKs in the order of the PUBLISHes) holds: bytes are
 * released in the order they were written.
 */
import type { Socket } from 'node:net';

type WriteCb = (err?: Error | null) => void;
type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;

interface Held {
  /** Journal position that must be committed before these bytes go out. */
  pos: number;
  chunks: unknown[];
  cbs: WriteCb[];
  /** PUBACKs of the lean path written after `chunks`, four bytes each. */
  acks: Buffer | undefined;
  ackBytes: number;
}

interface GateState {
  socket: Socket;
  write: Write;
  /** End of this connection's last append. */
  last: number;
  held: Held[];
}

const kGate = Symbol('fieldgate.ackGate');
type Gated = Socket & { [kGate]?: GateState };

export class AckGate {
  private readonly waiting = new Set<GateState>();

  /**
   * `committed`: the journal's committed position. `batchStart`: where the batch it is filling
   * starts; bytes that wait for appends past it are released by the same commit, so they share one
   * held group (without it, each lean PUBACK opened a group of its own: an object, two arrays and
   * a 1 KiB buffer per message).
   */
  constructor(
    private readonly committed: () => number,
    private readonly batchStart: () => number = () => Infinity,
  ) {}

  attach(socket: Socket): void {
    const write = socket.write.bind(socket) as Write;
    const st: GateState = { socket, write, last: 0, held: [] };
    (socket as Gated)[kGate] = st;
    const committed = this.committed;
    const batchStart = this.batchStart;
    const waiting = this.waiting;
    (socket as unknown as { write: Write }).write = function gatedWrite(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      if (st.held.length === 0 && st.last <= committed()) return write(chunk, encoding, cb);
      const h = heldFor(st, batchStart());
      flushAcks(h);
      h.chunks.push(chunk);
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') h.cbs.push(done as WriteCb);
      waiting.add(st);
      return true;
    };
    socket.once('close', () => {
      st.held = [];
      waiting.delete(st);
    });
  }

  /**
   * PUBACKs from the lean publish path for the connection behind `socket`: four bytes each
   * after whatever its earlier writes hold, without a Buffer, a callback or a lookup per message.
   */
  acker(socket: unknown): (messageId: number) => void {
    const st = (socket as Gated)[kGate];
    if (!st) return (id) => void (socket as Socket).write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
    const committed = this.committed;
    const batchStart = this.batchStart;
    const waiting = this.waiting;
    return (id) => {
      if (st.held.length === 0 && st.last <= committed()) return void st.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
      const h = heldFor(st, batchStart());
      let b = h.acks;
      const o = h.ackBytes;
      if (!b || o === b.length) {
        const grown = Buffer.allocUnsafe(b ? b.length * 2 : 1024);
        if (b) b.copy(grown, 0, 0, o);
        b = h.acks = grown;
      }
      b[o] = 0x40;
      b[o + 1] = 0x02;
      b[o + 2] = id >> 8;
      b[o + 3] = id & 0xff;
      h.ackBytes = o + 4;
      if (o === 0) waiting.add(st);
    };
  }

  /** The connection behind `socket` appended up to `end`: its next writes wait for that commit. */
  appended(socket: unknown, end: number): void {
    const st = (socket as Gated)[kGate];
    if (st) st.last = end;
  }

  /** Releases what the commit up to `committed` covers. Called once per group commit. */
  release(committed: number): void {
    for (const st of this.waiting) {
      let n = 0;
      while (n < st.held.length && st.held[n].pos <= committed) n++;
      if (n === 0) continue;
      const out = st.held.splice(0, n);
      if (st.held.length === 0) this.waiting.delete(st);
      if (st.socket.destroyed) continue;
      // mqtt-packet writes a PUBACK as three small buffers; one write of them all is far
      // cheaper than a writev of thousands of tiny pieces.
      const bufs: Buffer[] = [];
      for (const h of out) {
        flushAcks(h);
        for (const c of h.chunks) bufs.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
      }
      st.write(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
      for (const h of out) for (const cb of h.cbs) cb(null);
    }
  }
}

/**
 * The held bytes that wait for this connection's last append. The last group moves on with it while
 * both lie in the batch being filled (past `batchStart`: one commit releases them together); a
 * group in a batch already cut keeps its place, and a new one starts.
 */
function heldFor(st: GateState, batchStart: number): Held {
  let h = st.held[st.held.length - 1];
  if (h && h.pos !== st.last && h.pos > batchStart) h.pos = st.last;
  else if (!h || h.pos !== st.last) {
    h = { pos: st.last, chunks: [], cbs: [], acks: undefined, ackBytes: 0 };
    st.held.push(h);
  }
  return h;
}

/** PUBACKs written so far go before what is written next. */
function flushAcks(h: Held): void {
  if (h.ackBytes === 0) return;
  h.chunks.push(h.acks!.subarray(0, h.ackBytes));
  h.acks = undefined;
  h.ackBytes = 0;
}
