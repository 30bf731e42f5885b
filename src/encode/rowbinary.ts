/** A growable RowBinary writer (ClickHouse's native little-endian row format). */
export class RowBinaryWriter {
  buf: Buffer;
  len = 0;
  constructor(initial = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  /** Int64 (also DateTime64(3) as milliseconds). */
  int64(v: number): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(BigInt(Math.trunc(v)), this.len);
    this.len += 8;
  }

  float64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
  }

  uint32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }

  /** String (and LowCardinality(String)): LEB128 length, then UTF-8 bytes. */
  string(s: string): void {
    this.ensure(5 + s.length * 3);
    const n = s.length === 0 ? 0 : this.buf.write(s, this.len + 5, 'utf8');
    // write the varint in front, then move the bytes down if it was shorter than 5
    let p = this.len;
    let v = n;
    const start = p;
    do {
      let byte = v & 0x7f;
      v >>>= 7;
      if (v) byte |= 0x80;
      this.buf[p++] = byte;
    } while (v);
    const vlen = p - start;
    if (vlen !== 5 && n > 0) this.buf.copy(this.buf, p, start + 5, start + 5 + n);
    this.len = p + n;
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

  /** A copy of what was written, sized exactly. */
  take(): Buffer {
    const out = Buffer.allocUnsafeSlow(this.len); // own ArrayBuffer: it is transferred between threads
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    return out;
  }
}
