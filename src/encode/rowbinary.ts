import { ASCII_COPY_MAX, copyAscii } from '../core/records.js';

/** A growable RowBinary writer (ClickHouse's native little-endian row format). */
export class RowBinaryWriter {
  buf: Buffer;
  len = 0;
  /**
   * The numbers go through a DataView over `buf`: its setters are compiled inline, where
   * Buffer.writeDoubleLE and writeUInt32LE are calls (measured: ~8 % of a worker's time on JSON arrays).
   */
  private view: DataView;
  constructor(initial = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initial);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.length);
  }

  /** Int64 (also DateTime64(3) as milliseconds). */
  int64(v: number): void {
    this.ensure(8);
    const t = Math.trunc(v);
    if (t >= 0 && t <= Number.MAX_SAFE_INTEGER) {
      // Two 32-bit halves: no BigInt per row.
      this.view.setUint32(this.len, t % 0x100000000, true);
      this.view.setUint32(this.len + 4, Math.floor(t / 0x100000000), true);
    } else this.buf.writeBigInt64LE(BigInt(t), this.len);
    this.len += 8;
  }

  float64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }

  uint32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }

  /** A little-endian integer of 1, 2 or 4 bytes (Int8…UInt32, Enum8/16, Bool, DateTime, Nullable's flag). */
  int(v: number, bytes: 1 | 2 | 4, signed: boolean): void {
    this.ensure(bytes);
    if (signed) this.buf.writeIntLE(v, this.len, bytes);
    else this.buf.writeUIntLE(v, this.len, bytes);
    this.len += bytes;
  }

  /** Int64/UInt64 from a BigInt (exact past 2^53). */
  bigint64(v: bigint, signed: boolean): void {
    this.ensure(8);
    if (signed) this.buf.writeBigInt64LE(v, this.len);
    else this.buf.writeBigUInt64LE(v, this.len);
    this.len += 8;
  }

  float32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
  }

  /** String (and LowCardinality(String)): LEB128 length, then UTF-8 bytes. */
  string(s: string): void {
    const len = s.length;
    this.ensure(5 + len * 3);
    const p = this.len;
    // Device, tag and source names are short and ASCII: copied here, a char at a time, they cost
    // less than the call into Buffer.write (measured: string writes were a third of a worker's time
    // on JSON arrays). Anything else, or a non-ASCII char met on the way, takes Buffer.write.
    if (len < ASCII_COPY_MAX && copyAscii(this.buf, p + 1, s) === len) {
      this.buf[p] = len;
      this.len = p + 1 + len;
      return;
    }
    // Most strings are shorter than 128 bytes: write after a one-byte length, and only
    // move the bytes when the length turns out to need more.
    const n = this.buf.write(s, p + 1, 'utf8'); // not empty: the loop above took that
    if (n < 0x80) {
      this.buf[p] = n;
      this.len = p + 1 + n;
      return;
    }
    let vlen = 1;
    for (let v = n >>> 7; v; v >>>= 7) vlen++;
    this.buf.copy(this.buf, p + vlen, p + 1, p + 1 + n);
    let v = n;
    let o = p;
    do {
      let byte = v & 0x7f;
      v >>>= 7;
      if (v) byte |= 0x80;
      this.buf[o++] = byte;
    } while (v);
    this.len = p + vlen + n;
  }

  /** String from raw bytes. */
  bytes(src: Buffer, from: number, to: number): void {
    const n = to - from;
    this.ensure(5 + n);
    let v = n;
    do {
      let byte = v & 0x7f;
      v >>>= 7;
      if (v) byte |= 0x80;
      this.buf[this.len++] = byte;
    } while (v);
    src.copy(this.buf, this.len, from, to);
    this.len += n;
  }

  /** Bytes already in RowBinary form. */
  raw(src: Buffer): void {
    const n = src.length;
    this.ensure(n);
    if (n < 32) {
      // A gateway_id's few bytes on every row: a loop costs less than the native copy's call.
      const b = this.buf;
      const p = this.len;
      for (let i = 0; i < n; i++) b[p + i] = src[i];
    } else src.copy(this.buf, this.len);
    this.len += n;
  }

  /** A copy of what was written, sized exactly. */
  take(): Buffer {
    const out = Buffer.allocUnsafeSlow(this.len); // own ArrayBuffer: it is transferred between threads
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    return out;
  }
}
