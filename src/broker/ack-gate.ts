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

  constructor(private readonly committed: () => number) {}

  attach(socket: Socket): void {
    const write = socket.write.bind(socket) as Write;
    const st: GateState = { socket, write, last: 0, held: [] };
    (socket as Gated)[kGate] = st;
    const committed = this.committed;
    const waiting = this.waiting;
    (socket as unknown as { write: Write }).write = function gatedWrite(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      if (st.held.length === 0 && st.last <= committed()) return write(chunk, encoding, cb);
      let h = st.held[st.held.length - 1];
      if (!h || h.pos !== st.last) {
        h = { pos: st.last, chunks: [], cbs: [] };
        st.held.push(h);
      }
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
      for (const h of out) for (const c of h.chunks) bufs.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
      st.write(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
      for (const h of out) for (const cb of h.cbs) cb(null);
    }
  }
}
