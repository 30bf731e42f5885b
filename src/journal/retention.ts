/**
 * What the journal keeps and what it lets go: segments every cursor passed are deleted; past
 * `max_bytes` (or below the disk watermark) `on_full` decides between dropping the oldest segment
 * (counted, per consumer too) and withholding acceptance until a consumer catches up. The journal
 * calls it after each frame, each roll, each acknowledgement and each change of the disk guard.
 */
import { Gate } from '../core/gate.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { JournalConfig } from './config.js';
import type { JournalCursor } from './cursor.js';
import type { Chunk, Segment } from './segment.js';

/** The parts of the journal retention reads and changes (oldest first). */
export interface RetainedJournal {
  readonly segments: Segment[];
  /** Committed chunks not yet passed by every cursor. */
  readonly chunks: Chunk[];
  /** Cut, not yet committed. */
  readonly sealed: Chunk[];
  readonly cursors: ReadonlyMap<string, JournalCursor>;
  readonly totalBytes: number;
  /** Closes the open chunk (a cut frame). */
  cut(): void;
  /** Starts a new segment (only ever right after a cut). */
  roll(): void;
  /** Deletes a segment's file and forgets its bytes. */
  deleteSegment(seg: Segment): void;
  /** Segments, chunks or cursors changed: gauges and lag. */
  changed(): void;
}

export class Retention {
  /** Closed while on_full: block withholds acceptance. */
  private readonly gate = new Gate();
  /** The disk guard says state_dir's filesystem is below its watermark. */
  private diskLow = false;
  /** Records dropped by on_full before this consumer had them (since start). */
  readonly droppedFor = new Map<string, number>();
  private droppedSinceLog = 0;
  private lastDropLog = 0;

  constructor(
    private readonly j: RetainedJournal,
    private readonly cfg: JournalConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  get blocked(): boolean {
    return this.gate.closed;
  }

  whenUnblocked(cb: () => void): void {
    this.gate.whenOpen(cb);
  }

  /** After a frame was appended: past max_bytes, or a low disk with block, on_full decides. */
  afterAppend(): void {
    if (this.j.totalBytes > this.cfg.max_bytes || (this.diskLow && !this.gate.closed && this.cfg.on_full === 'block')) this.enforceBound();
  }

  /** After a new segment started: with a low disk and drop_oldest it costs the oldest one, so the journal does not grow. */
  afterRoll(): void {
    const segs = this.j.segments;
    if (this.diskLow && this.cfg.on_full === 'drop_oldest' && segs.length > 1) this.dropDown(this.j.totalBytes - segs[0].size, 'disk_low');
  }

  /** The lowest position any cursor still needs. */
  minCursor(): number {
    let min = Number.MAX_SAFE_INTEGER;
    for (const c of this.j.cursors.values()) min = Math.min(min, c.state.position);
    return min;
  }

  /** A cursor moved or went: chunks and segments every cursor passed go; acceptance resumes when the journal fits again. */
  release(): void {
    const min = this.minCursor();
    const { chunks, segments } = this.j;
    while (chunks.length > 0 && chunks[0].next <= min) chunks.shift();
    while (segments.length > 1 && segments[0].base + segments[0].size <= min) this.j.deleteSegment(segments.shift()!);
    this.j.changed();
    if (this.gate.closed && !this.diskLow && this.j.totalBytes <= this.cfg.max_bytes) this.unblock();
  }

  /** A consumer went: it no longer counts what was dropped before it had it. */
  forget(name: string): void {
    this.droppedFor.delete(name);
  }

  /**
   * The disk guard changed its mind. A low disk counts as full: with block, acceptance waits;
   * with drop_oldest, every new segment drops the oldest one, so the journal stops growing.
   */
  setDiskLow(low: boolean): void {
    this.diskLow = low;
    if (low && this.cfg.on_full === 'block') this.enforceBound();
    else if (!low && this.gate.closed && this.j.totalBytes <= this.cfg.max_bytes) this.unblock();
  }

  /** The journal passed max_bytes (or the disk is low, with block): drop the oldest segment or block, per on_full. */
  private enforceBound(): void {
    if (this.cfg.on_full === 'block') {
      if (this.gate.close()) {
        this.metrics.journalBlocked.set(1);
        this.log.warn(
          { bytes: this.j.totalBytes, max_bytes: this.cfg.max_bytes },
          'journal: full; withholding acceptance until a sink catches up (on_full: block)',
        );
      }
      return;
    }
    if (this.j.segments.length === 1) {
      // One segment holds everything: close it at a cut so the oldest can go.
      this.j.cut();
      if (this.j.segments.length === 1) this.j.roll();
    }
    this.dropDown(this.cfg.max_bytes, 'journal_full');
  }

  /** Deletes the oldest segments until the journal holds at most `bound` bytes (one segment stays). */
  private dropDown(bound: number, reason: 'journal_full' | 'disk_low'): void {
    const { chunks, segments, sealed } = this.j;
    while (this.j.totalBytes > bound && segments.length > 1) {
      const seg = segments.shift()!;
      const end = seg.base + seg.size;
      let dropped = 0;
      for (const c of chunks) if (c.segment === seg.base && c.next > this.minCursor()) dropped += c.records;
      const fresh = sealed.filter((c) => c.segment === seg.base);
      for (const c of fresh) dropped += c.records;
      for (let i = sealed.length - 1; i >= 0; i--) if (sealed[i].segment === seg.base) sealed.splice(i, 1);
      for (const [name, cur] of this.j.cursors) {
        if (cur.state.position < end) {
          let mine = 0;
          for (const c of chunks) if (c.segment === seg.base && c.start >= cur.state.position) mine += c.records;
          for (const c of fresh) mine += c.records;
          this.droppedFor.set(name, (this.droppedFor.get(name) ?? 0) + mine);
          const lastId = chunks.filter((c) => c.segment === seg.base).reduce((a, c) => Math.max(a, c.id), cur.state.chunk);
          void cur.advance({ chunk: lastId, position: end }).catch((e: unknown) => this.log.error({ err: errorMessage(e) }, 'journal: cursor write failed'));
        }
      }
      while (chunks.length > 0 && chunks[0].segment === seg.base) chunks.shift();
      this.j.deleteSegment(seg);
      this.metrics.journalDroppedRecords.inc({ reason }, dropped);
      this.droppedSinceLog += dropped;
    }
    const t = this.now();
    if (t - this.lastDropLog >= 60_000 && this.droppedSinceLog > 0) {
      this.log.warn(
        { dropped_records: this.droppedSinceLog, reason, max_bytes: this.cfg.max_bytes },
        'journal: full; dropped the oldest unsent records (on_full: drop_oldest)',
      );
      this.droppedSinceLog = 0;
      this.lastDropLog = t;
    }
    this.j.changed();
  }

  private unblock(): void {
    this.metrics.journalBlocked.set(0);
    this.log.info({ bytes: this.j.totalBytes }, 'journal: accepting again');
    this.gate.open();
  }

  /** The journal closes: whoever waits for acceptance is let go (their appends then fail as closed). */
  close(): void {
    this.gate.releaseWaiters();
  }
}
