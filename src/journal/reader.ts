/**
 * Read descriptors of segments, shared by the chunk reads of every sink. A descriptor is counted
 * while reads use it: a segment deleted meanwhile closes it after the last read, so its number is
 * never reused (by the next open) under a read still in flight.
 */
import { close as closeFd, closeSync, open as openFd, read } from 'node:fs';
import { FgError } from '../core/errors.js';
import { SEGMENT_HEADER, type Chunk, type Segment } from './segment.js';

interface SegmentReader {
  fd: number;
  users: number;
  closing: boolean;
}

export class SegmentReaders {
  private readonly open = new Map<number, SegmentReader>();

  read(seg: Segment, c: Chunk, cb: (err: Error | null, data?: Buffer) => void): void {
    const withReader = (r: SegmentReader): void => {
      r.users++;
      const data = Buffer.allocUnsafeSlow(c.end - c.start); // own ArrayBuffer: moved to a worker
      read(r.fd, data, 0, data.length, SEGMENT_HEADER + (c.start - c.segment), (err, n) => {
        if (--r.users === 0 && r.closing) closeFd(r.fd, () => undefined);
        if (err) return cb(err);
        if (n !== data.length) return cb(new FgError('FG_E_JOURNAL_CORRUPT', `short read of chunk ${c.id}: ${n} of ${data.length} bytes`));
        cb(null, data);
      });
    };
    const have = this.open.get(seg.base);
    if (have) return withReader(have);
    openFd(seg.path, 'r', (err, fd) => {
      if (err) return cb(err.code === 'ENOENT' ? null : err, undefined);
      const again = this.open.get(seg.base);
      if (again) {
        closeFd(fd, () => undefined);
        return withReader(again);
      }
      if (seg.dropped) {
        closeFd(fd, () => undefined);
        return cb(null, undefined);
      }
      const r: SegmentReader = { fd, users: 0, closing: false };
      this.open.set(seg.base, r);
      withReader(r);
    });
  }

  /** The segment is deleted: its descriptor closes after the reads in flight. */
  drop(base: number): void {
    const r = this.open.get(base);
    if (!r) return;
    this.open.delete(base);
    r.closing = true;
    if (r.users === 0) closeFd(r.fd, () => undefined);
  }

  closeAll(): void {
    for (const r of this.open.values()) {
      r.closing = true;
      if (r.users === 0) closeSync(r.fd);
    }
    this.open.clear();
  }
}
