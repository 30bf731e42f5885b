/**
 * One group commit: write a batch of frames at its place in its segment and
 * fdatasync it. A segment's first write creates the file with its header and
 * makes its directory entry durable, then closes the previous segment.
 *
 * A write that writes less than it was given (a full card writes what fits and
 * says so; the next call fails with ENOSPC) is continued until every byte is
 * written or an error comes: a batch counts as committed only when all of it is
 * on disk. A failed batch is retried whole, at the same offset, so a retry after
 * ENOSPC or EIO leaves no hole.
 */
import { fdatasync, writev, close as closeFd, open as openFd } from 'node:fs';
import { faultError, injectedFault } from '../core/faults.js';
import { fsyncDir } from './fsutil.js';
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

/** The buffers after the first `n` bytes of `bufs`. */
function after(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

/** writev until every byte of `bufs` is at `offset`, or an error. */
export function writeFully(fd: number, bufs: Buffer[], offset: number, done: (err: Error | null) => void): void {
  let total = 0;
  for (const b of bufs) total += b.length;
  if (total === 0) return done(null);
  let give = bufs;
  const f = injectedFault('journal_write');
  if (f?.action === 'enospc' || f?.action === 'eio') return done(faultError(f, 'journal write'));
  if (f?.action === 'stall') return void setTimeout(() => writeFully(fd, bufs, offset, done), f.ms ?? 1000);
  if (f?.action === 'short') give = shorten(bufs, Math.max(1, Math.floor(total / 2)));
  writev(fd, give, offset, (err, n) => {
    if (err) return done(err);
    if (n >= total) return done(null);
    if (n === 0) {
      const e = new Error(`ENOSPC: the journal write wrote 0 of ${total} bytes`) as NodeJS.ErrnoException;
      e.code = 'ENOSPC';
      return done(e);
    }
    writeFully(fd, after(bufs, n), offset + n, done);
  });
}

/** The first `n` bytes of `bufs` (a short write, injected). */
function shorten(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n <= 0) break;
    out.push(b.length <= n ? b : b.subarray(0, n));
    n -= b.length;
  }
  return out;
}

export function writeBatch(batch: Batch, ctx: CommitContext, done: (err: Error | null) => void): void {
  const seg = batch.segment;
  // A segment dropped by on_full: drop_oldest before its tail was written: nothing to write.
  if (seg.dropped) return done(null);
  const offset = SEGMENT_HEADER + (batch.start - seg.base);
  const write = (fd: number): void => {
    if (batch.bytes === 0) return done(null);
    writeFully(fd, batch.bufs, offset, (err) => {
      if (err) return done(err);
      if (!ctx.sync) return done(null);
      fdatasync(fd, (e) => done(e));
    });
  };
  if (seg.fd !== undefined) return write(seg.fd);
  openFd(seg.path, 'w+', (err, fd) => {
    if (err) return done(err);
    writeFully(fd, [segmentHeader(seg.base)], 0, (e) => {
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
