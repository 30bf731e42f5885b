/**
 * The default narrow table: one row per value.
 * points(ts DateTime64(3,'UTC'), device, tag, value Float64, text String, quality UInt32, source[, gateway_id])
 */
import { RowBinaryWriter } from './rowbinary.js';

export const POINTS_COLUMNS = ['ts', 'device', 'tag', 'value', 'text', 'quality', 'source'] as const;

/** Encodes rows of the points table, remembering where each row starts and which record it came from. */
export class PointsEncoder {
  readonly w = new RowBinaryWriter();
  rows = 0;
  private starts = new Uint32Array(1024);
  private origin = new Uint32Array(1024);
  /** The gateway_id column's bytes (length and UTF-8), the same in every row; undefined when the table has no such column. */
  private gateway: Buffer | undefined;

  /** Every row written from now on ends with this gateway_id (undefined: rows without the column). */
  setGateway(id: string | undefined): void {
    if (id === undefined) {
      this.gateway = undefined;
      return;
    }
    const w = new RowBinaryWriter(8 + id.length * 3);
    w.string(id);
    this.gateway = w.take();
  }

  row(ts: number, device: string, tag: string, value: number, text: string, quality: number, source: string, record: number): void {
    if (this.rows === this.starts.length) {
      const s = new Uint32Array(this.rows * 2);
      s.set(this.starts);
      this.starts = s;
      const o = new Uint32Array(this.rows * 2);
      o.set(this.origin);
      this.origin = o;
    }
    this.starts[this.rows] = this.w.len;
    this.origin[this.rows] = record;
    this.rows++;
    const w = this.w;
    w.int64(ts);
    w.string(device);
    w.string(tag);
    w.float64(value);
    w.string(text);
    w.uint32(quality);
    w.string(source);
    if (this.gateway) w.raw(this.gateway);
  }

  finish(): { data: Buffer; rows: number; rowStarts: Uint32Array; rowRecords: Uint32Array } {
    const rows = this.rows;
    const out = { data: this.w.take(), rows, rowStarts: this.starts.slice(0, rows), rowRecords: this.origin.slice(0, rows) };
    this.rows = 0;
    return out;
  }
}
