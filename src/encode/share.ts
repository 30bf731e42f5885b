/**
 * The worker side of a partner share: a chunk's values, decoded as for the points table, kept
 * only where a send entry's select names them. Values a partner sent us (source partner:…) are
 * never selected, so nothing received is sent back out (no loops).
 */
import { compileSelects } from '../core/glob.js';
import type { ShareResult, ShareSpec, SharedValue } from '../core/ports.js';
import type { ChunkResult, RowFilter } from './decode.js';

export type { ShareResult, ShareSpec, SharedValue };

/** The rows worth writing for a share: a value some entry selects, never one a partner sent. */
export function shareFilter(spec: ShareSpec): RowFilter {
  const matchers = spec.entries.map((e) => compileSelects(e));
  return (device, tag, source) => {
    if (source.startsWith('partner:')) return false;
    for (const m of matchers) if (m(device, tag)) return true;
    return false;
  };
}

/** Reads the points rows a chunk decoded into (those `shareFilter` let through) and keeps what the entries select. */
export function selectShared(r: ChunkResult, spec: ShareSpec): ShareResult {
  const matchers = spec.entries.map((e) => compileSelects(e));
  const values: SharedValue[] = [];
  const pts = r.tables.find((t) => t.table === 'points');
  if (pts) {
    const b = pts.data;
    let o = 0;
    const len = (): number => {
      let n = 0;
      let shift = 0;
      for (;;) {
        const c = b[o++];
        n += (c & 0x7f) * 2 ** shift;
        if (c < 0x80) break;
        shift += 7;
      }
      return n;
    };
    const str = (): string => {
      const n = len();
      const s = b.toString('utf8', o, o + n);
      o += n;
      return s;
    };
    for (let i = 0; i < pts.rows; i++) {
      const ts = b.readUInt32LE(o) + b.readInt32LE(o + 4) * 0x100000000;
      o += 8;
      const device = str();
      const tag = str();
      const value = b.readDoubleLE(o);
      o += 8;
      // The text is read only for a value that is kept (a large raw payload nobody shares costs no string).
      const textLen = len();
      const textAt = o;
      o += textLen;
      const quality = b.readUInt32LE(o);
      o += 4;
      const source = str();
      if (source.startsWith('partner:')) continue;
      let text: string | undefined;
      for (let e = 0; e < matchers.length; e++) {
        if (!matchers[e](device, tag)) continue;
        text ??= b.toString('utf8', textAt, textAt + textLen);
        values.push({ entry: e, seq: pts.rowRecords[i], ts, device, tag, value, text, quality });
      }
    }
  }
  return { values, firstReceived: r.firstReceived, lastReceived: r.lastReceived };
}
