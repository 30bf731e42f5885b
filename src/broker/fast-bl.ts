/**
 * mqtt-packet reads every number and string of a packet through `bl`'s BufferList, whose
 * `readUInt8`, `readUInt16BE`, `readUInt32BE` and `toString` first `slice` the bytes out (a new
 * Buffer, and an offset array, per call) and then read the slice. A QoS 1 PUBLISH takes five such
 * reads (the fixed header, its length, the topic's length, the topic, the message id): under a
 * flood of single values the slices and their garbage were about a tenth of the main thread.
 *
 * Where the bytes lie in the list's first buffer (where the parser reads: it consumes what it
 * parsed), these read them in place. Anything else (another buffer, a range that spans two,
 * negative or fractional offsets, a range past the end) goes to bl's own method, so values and
 * errors are bl's. The patch is on the prototypes of the copy of bl that mqtt-packet resolves, once.
 */
import { createRequire } from 'node:module';

interface BufferListLike {
  _bufs: Buffer[];
}
type Method = (this: BufferListLike, ...a: never[]) => unknown;
interface Proto extends Record<string, unknown> {
  readUInt8: (this: BufferListLike, offset?: number) => number;
  readUInt16BE: (this: BufferListLike, offset?: number) => number;
  readUInt32BE: (this: BufferListLike, offset?: number) => number;
  toString: (this: BufferListLike, encoding?: BufferEncoding, start?: number, end?: number) => string;
}

/** bl's own methods, kept on the prototype under this symbol (tests compare against them). */
export const ORIGINAL = Symbol.for('fieldgate.fast-bl.original');

/** True when `[offset, offset + n)` lies inside `b`. */
function inside(b: Buffer | undefined, offset: number, n: number): b is Buffer {
  return b !== undefined && Number.isInteger(offset) && offset >= 0 && offset + n <= b.length;
}

/** Puts the in-place reads on a BufferList prototype (once); returns bl's originals. */
export function installFastReads(proto: Proto): Record<string, Method> {
  const done = proto[ORIGINAL as unknown as string] as Record<string, Method> | undefined;
  if (done) return done;
  const orig = { readUInt8: proto.readUInt8, readUInt16BE: proto.readUInt16BE, readUInt32BE: proto.readUInt32BE, toString: proto.toString };
  proto.readUInt8 = function readUInt8(offset = 0) {
    const b = this._bufs[0];
    return inside(b, offset, 1) ? b[offset] : orig.readUInt8.call(this, offset);
  };
  proto.readUInt16BE = function readUInt16BE(offset = 0) {
    const b = this._bufs[0];
    return inside(b, offset, 2) ? (b[offset] << 8) | b[offset + 1] : orig.readUInt16BE.call(this, offset);
  };
  proto.readUInt32BE = function readUInt32BE(offset = 0) {
    const b = this._bufs[0];
    return inside(b, offset, 4) ? b.readUInt32BE(offset) : orig.readUInt32BE.call(this, offset);
  };
  proto.toString = function toString(encoding?: BufferEncoding, start?: number, end?: number) {
    const b = this._bufs[0];
    // Only an explicit range that is not empty: bl's defaults and empty ranges stay its own.
    if (typeof start === 'number' && typeof end === 'number' && end > start && inside(b, start, end - start)) return b.toString(encoding, start, end);
    return orig.toString.call(this, encoding, start, end);
  };
  Object.defineProperty(proto, ORIGINAL, { value: orig });
  return orig;
}

/**
 * The prototypes mqtt-packet parses with: bl's BufferListStream (what `bl()` makes; it got copies
 * of BufferList's methods when bl loaded) and BufferList itself. Empty when bl is not as expected.
 */
export function packetBufferLists(): Proto[] {
  try {
    const fromPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
    const bl = fromPacket('bl') as { prototype?: Proto; BufferList?: { prototype?: Proto } };
    const protos = [bl.prototype, bl.BufferList?.prototype];
    return protos.every((p) => typeof p?.readUInt8 === 'function' && typeof p.toString === 'function') ? (protos as Proto[]) : [];
  } catch {
    return [];
  }
}

for (const proto of packetBufferLists()) installFastReads(proto);
