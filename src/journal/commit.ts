/**
 * One group commit: write a batch of frames at its place in its segment and
 * fdatasync it. A segment's first write creates the file with its header and
 * makes its directory entry durable, then closes the previous segment.
 */
import { fdatasync, writev, close as closeFd, open as openFd } from 'node:fs';
import { fsyncDir } from './cursor.js';
import { SEGMENT_HEADER, segmentHeader, type Segment } from './segment.js';

export type Waiter = (err?: Error | null) => void;

export interface Batch {
  segment: Segment;
  /** Global position where the batch starts. */
  start: number;
  bufs: Buffer[];
  /** Tail buffers to give back to the pool once written. */
  owned: Buffer[];
  bytes: number;
  waiters: Waiter[];
}

export interface CommitContext {
  segDir: string;
  /** fdatasync after the write (fsync: always). */
  sync: boolean;
  segments: () => Segment[];
}

export function writeBatch(batch: Batch, ctx: CommitContext, done: (err: Error | null) => void): void {
  const seg = batch.segment;
  // A segment dropped by on_full: drop_oldest before its tail was written: nothing to write.
  if (seg.dropped) return done(null);
  const offset = SEGMENT_HEADER + (batch.start - seg.base);
  const write = (fd: number): void => {
    if (batch.bytes === 0) return done(null);
    writev(fd, batch.bufs, offset, (err) => {
      if (err) return done(err);
      if (!ctx.sync) return done(null);
      fdatasync(fd, (e) => done(e));
    });
  };
  if (seg.fd !== undefined) return write(seg.fd);
  openFd(seg.path, 'w+', (err, fd) => {
    if (err) return done(err);
    writev(fd, [segmentHeader(seg.base)], 0, (e) => {
      if (e) {
        closeFd(fd, () => done(e));
        return;
      }
      fsyncDir(ctx.segDir).then(
        () => {
          const prev = ctx.segments().find((s) => s !== seg && s.fd !== undefined);
          if (prev?.fd !== undefined) {
            const old = prev.fd;
            prev.fd = undefined;
            fdatasync(old, () => closeFd(old, () => undefined));
          }
          seg.fd = fd;
          seg.created = true;
          write(fd);
        },
        (e2: Error) => done(e2),
      );
    });
  });
}
