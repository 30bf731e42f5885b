/**
 * The journal: append-only CRC-framed segments with group commit, a sealer
 * that writes chunk boundaries into the journal itself, and one persisted
 * cursor per sink. See docs/architecture.md, "The journal".
 */
import { closeSync, fdatasync, mkdirSync, openSync, unlink } from 'node:fs';
import { join } from 'node:path';
import { FgError, errorMessage } from '../core/errors.js';
import { Backoff } from '../core/backoff.js';
import {
  BIRTH_FIXED,
  CUT_PAYLOAD,
  FRAME_HEADER,
  mqttMax,
  pointMax,
  sealFrame,
  writeBirth,
  writeCut,
  writeMqtt,
  writePoint,
  type Point,
} from '../core/records.js';
import type { JournalPort } from '../core/ports.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { BatchConfig, JournalConfig } from './config.js';
import { JournalCursor, checkCursors, cursorFile, readCursor, type CursorState } from './cursor.js';
import { readJournalId } from './identity.js';
import { SegmentReaders } from './reader.js';
import { scanSegments } from './recover.js';
import { writeBatch, type Batch, type Waiter } from './commit.js';
import { Retention } from './retention.js';
import { segmentName, type Chunk, type Segment } from './segment.js';

const TAIL_BUFFER = 256 * 1024;

export interface JournalOptions {
  dir: string;
  journal: JournalConfig;
  batch: BatchConfig;
  sinks: string[];
  /** Of the sinks, those whose missing cursor starts at the journal's end (a new partner), not at its oldest chunk. */
  startAtEnd?: string[];
  metrics: Metrics;
  log: Logger;
  now?: () => number;
}

export interface RecoveryReport {
  segments: number;
  chunks: number;
  openRecords: number;
  truncatedBytes: number;
  damagedBytes: number;
  lostRecords: number;
  journal: string;
}

export class Journal implements JournalPort {
  private readonly segDir: string;
  private journalId = '';
  private readonly cursorDir: string;
  private readonly now: () => number;
  private readonly segments: Segment[] = [];
  private active!: Segment;
  /** Global position of the next append. */
  private position = 0;
  private committed = 0;
  private totalBytes = 0;

  private buf: Buffer = Buffer.allocUnsafe(TAIL_BUFFER);
  private bufLen = 0;
  private readonly pool: Buffer[] = [];
  private open!: Batch;
  private readonly queue: Batch[] = [];
  private flushing: Batch | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private readonly retry = new Backoff(50, 5000);
  private lastCommitStart = 0;
  /** When the last group commit finished (for the watchdog). */
  lastCommitAt = Date.now();

  private chunkStart = 0;
  /** When the open chunk's first record was appended (or the journal recovered it). */
  private chunkOpenedAt = Date.now();
  /** When recover() ran: the age floor of chunks recovered from disk. */
  private recoveredAt = Date.now();
  private chunkRecords = 0;
  private chunkBytes = 0;
  private chunkTimer: NodeJS.Timeout | undefined;
  private nextChunkId = 1;
  /** Cut but not yet committed. */
  private readonly sealed: Chunk[] = [];
  /** Committed chunks not yet passed by every cursor. */
  private readonly chunks: Chunk[] = [];
  private readonly chunkListeners: Array<(c: Chunk) => void> = [];
  private readonly commitListeners: Array<(committed: number) => void> = [];
  private readonly cursors = new Map<string, JournalCursor>();
  private readonly readers = new SegmentReaders();

  private closed = false;
  /** Plain counters on the hot path, copied to prom-client by syncMetrics(). */
  private readonly appended = { mqtt: 0, point: 0, birth: 0 };
  private readonly appendedSynced = { mqtt: 0, point: 0, birth: 0 };
  /** Deletion of what every cursor passed; on_full and the disk watermark. */
  private readonly retention: Retention;

  constructor(private readonly opts: JournalOptions) {
    this.segDir = join(opts.dir, 'journal');
    this.cursorDir = join(opts.dir, 'cursors');
    this.now = opts.now ?? Date.now;
    const self = this;
    this.retention = new Retention(
      {
        segments: this.segments,
        chunks: this.chunks,
        sealed: this.sealed,
        cursors: this.cursors,
        get totalBytes(): number {
          return self.totalBytes;
        },
        cut: () => this.cut(),
        roll: () => this.roll(),
        deleteSegment: (seg) => this.deleteSegment(seg),
        changed: () => {
          this.updateLag();
          this.updateGauges();
        },
      },
      opts.journal,
      opts.metrics,
      opts.log,
      this.now,
    );
  }

  get blocked(): boolean {
    return this.retention.blocked;
  }

  get endPosition(): number {
    return this.position;
  }

  /** Where the open chunk starts: everything before it is cut into chunks (a sink can insert it once committed). */
  get sealedPosition(): number {
    return this.chunkStart;
  }

  get committedPosition(): number {
    return this.committed;
  }

  get batchStart(): number {
    return this.open.start;
  }

  /** The journal's identity: made with the journal, part of every deduplication token. */
  get id(): string {
    return this.journalId;
  }

  /**
   * Scans the segments (truncates a torn tail, skips damage), rebuilds chunks and cursors, and
   * checks each cursor against the journal: a cursor of another journal or past the journal's end
   * stops the start with FG_E_JOURNAL_STATE rather than a guess that would skip new values.
   */
  recover(): RecoveryReport {
    this.recoveredAt = Date.now();
    mkdirSync(this.segDir, { recursive: true });
    mkdirSync(this.cursorDir, { recursive: true });
    const log = this.opts.log;
    const states = new Map<string, CursorState>();
    const unread = new Map<string, 'missing' | 'garbage'>();
    for (const s of this.opts.sinks) {
      const r = readCursor(this.cursorDir, s);
      if (r.state) states.set(s, r.state);
      else {
        unread.set(s, r.problem);
        if (r.problem === 'garbage')
          log.error(
            { sink: s, file: cursorFile(this.cursorDir, s), content: r.detail },
            'journal: cursor file is unreadable; the sink sends again from the oldest chunk (deduplicated by token where the store supports it)',
          );
      }
    }
    const minPos = Math.min(...[...states.values()].map((s) => s.position), ...(unread.size ? [0] : []), Number.MAX_SAFE_INTEGER);
    let maxCursorChunk = 0;
    let maxCursorPos = 0;
    for (const s of states.values()) {
      maxCursorChunk = Math.max(maxCursorChunk, s.chunk);
      maxCursorPos = Math.max(maxCursorPos, s.position);
    }

    const scan = scanSegments(this.segDir, minPos, this.opts.metrics, log);
    this.journalId = readJournalId(this.segDir, scan.segments.length > 0, log);
    this.segments.push(...scan.segments);
    this.chunks.push(...scan.chunks);
    const { truncated, lastCut } = scan;
    let { openRecords, openBytes } = scan;
    let openStart = scan.openStart;
    if (this.segments.length === 0) {
      // No segment (a new journal, or every one deleted): the next one starts after every cursor.
      const base = maxCursorPos;
      this.segments.push({ base, path: join(this.segDir, segmentName(base)), size: 0, records: 0, created: false });
      openStart = base;
    }
    this.active = this.segments[this.segments.length - 1]!;
    this.position = this.active.base + this.active.size;
    if (
      this.opts.journal.fsync !== 'always' &&
      maxCursorPos > this.position &&
      [...states.values()].every((st) => st.journal === undefined || st.journal === this.journalId)
    ) {
      // Without fsync on every commit a power cut may take acknowledged bytes that a sink had
      // already stored (its cursor is fsynced): expected, so the journal goes on after the cursor.
      log.warn(
        { end: this.position, cursor: maxCursorPos, fsync: this.opts.journal.fsync },
        'journal: a cursor is past the journal end (bytes not yet synced were lost, fsync is not always); new values go after it',
      );
      const base = maxCursorPos;
      this.segments.push({ base, path: join(this.segDir, segmentName(base)), size: 0, records: 0, created: false });
      this.active = this.segments[this.segments.length - 1]!;
      this.position = base;
      openStart = base;
      openRecords = 0; // the records after the last cut lie before the cursor: stored
      openBytes = 0;
    }
    checkCursors(states, this.journalId, this.position, this.cursorDir, this.segDir);
    for (const [s, problem] of unread) {
      const base = this.segments[0].base;
      if (problem === 'missing' && this.opts.startAtEnd?.includes(s)) {
        // A new consumer that only wants what comes next; the chunk ids so far are behind it.
        states.set(s, { chunk: Math.max(lastCut, maxCursorChunk), position: this.position });
        continue;
      }
      if (problem === 'missing' && this.position > base)
        log.warn({ sink: s, from: base }, 'journal: no cursor file for this sink; it sends the journal from its oldest chunk');
      states.set(s, { chunk: 0, position: base });
    }
    this.committed = this.position;
    this.totalBytes = this.segments.reduce((a, s) => a + s.size, 0);
    this.nextChunkId = Math.max(lastCut, maxCursorChunk) + 1;
    this.chunkStart = openStart < 0 ? this.position : openStart;
    this.chunkRecords = openRecords;
    this.chunkBytes = openBytes;
    this.open = this.newBatch();
    if (this.active.created) this.active.fd = openSync(this.active.path, 'r+');
    for (const [name, st] of states) this.cursors.set(name, new JournalCursor(this.cursorDir, name, st, this.journalId));
    // A new consumer that starts at the end says so on disk at once: a crash before its first
    // acknowledgement must not move its start to a later end.
    for (const [name, problem] of unread)
      if (problem === 'missing' && this.opts.startAtEnd?.includes(name))
        void this.cursors
          .get(name)!
          .persistNow()
          .catch(() => undefined);
    if (this.chunkRecords > 0) this.armChunkTimer();
    this.updateGauges();
    if (this.opts.journal.fsync === 'interval') {
      this.fsyncTimer = setInterval(() => this.syncActive(), this.opts.journal.fsync_interval);
      this.fsyncTimer.unref();
    }
    return {
      segments: this.segments.length,
      chunks: this.chunks.length,
      openRecords: this.chunkRecords,
      truncatedBytes: truncated,
      damagedBytes: scan.damage.reduce((a, d) => a + d.bytes, 0),
      lostRecords: scan.lostRecords,
      journal: this.journalId,
    };
  }

  // ---- appends (hot path: no promise, closure or log per record) ----

  appendMqtt(receivedMs: number, qos: number, topic: string, clientId: string, body: Buffer): void {
    const o = this.reserve(mqttMax(topic, clientId, body));
    const end = writeMqtt(this.buf, o + FRAME_HEADER, receivedMs, qos, topic, clientId, body);
    this.appended.mqtt++;
    this.finishFrame(o, end);
  }

  appendPoint(receivedMs: number, pt: Point): void {
    const o = this.reserve(pointMax(pt));
    const end = writePoint(this.buf, o + FRAME_HEADER, receivedMs, pt);
    this.appended.point++;
    this.finishFrame(o, end);
  }

  /** A Sparkplug B edge node's alias table (see core/sparkplug.ts). */
  appendBirth(receivedMs: number, state: Buffer): void {
    const o = this.reserve(BIRTH_FIXED + state.length);
    const end = writeBirth(this.buf, o + FRAME_HEADER, receivedMs, state);
    this.appended.birth++;
    this.finishFrame(o, end);
  }

  /** The id of the chunk the next record lands in (the sealer cuts only after a record). */
  get openChunkId(): number {
    return this.nextChunkId;
  }

  whenCommitted(cb: Waiter): void {
    if (this.open.bytes > 0 || this.bufLen > 0) {
      this.open.waiters.push(cb);
    } else {
      const last = this.queue[this.queue.length - 1] ?? this.flushing;
      if (last) last.waiters.push(cb);
      else cb(null);
    }
  }

  whenUnblocked(cb: () => void): void {
    this.retention.whenUnblocked(cb);
  }

  /** Room for one frame of at most `payloadMax` bytes after the kind byte; returns its offset in `buf`. */
  private reserve(payloadMax: number): number {
    if (this.closed) throw new FgError('FG_E_JOURNAL_CLOSED', 'journal is closed');
    const need = FRAME_HEADER + 1 + payloadMax;
    if (this.bufLen + need > this.buf.length) {
      this.retireBuffer();
      this.buf = need > TAIL_BUFFER ? Buffer.allocUnsafe(need) : (this.pool.pop() ?? Buffer.allocUnsafe(TAIL_BUFFER));
      this.bufLen = 0;
    }
    return this.bufLen;
  }

  /** Seals the frame at `o` (ending at `end`) in the tail buffer and counts it into the open batch. */
  private addFrame(o: number, end: number): number {
    const frame = sealFrame(this.buf, o, end);
    this.bufLen = end;
    this.open.bytes += frame;
    this.position += frame;
    this.totalBytes += frame;
    this.active.size += frame;
    return frame;
  }

  private finishFrame(o: number, end: number): void {
    const frame = this.addFrame(o, end);
    this.active.records++;
    this.chunkRecords++;
    this.chunkBytes += frame;
    if (this.chunkRecords === 1) this.armChunkTimer();
    if (this.chunkRecords >= this.opts.batch.max_rows || this.chunkBytes >= this.opts.batch.max_bytes) this.cut();
    else if (this.open.bytes >= this.opts.journal.commit_bytes) this.commitSoon(true);
    else if (!this.commitTimer) this.commitSoon(false);
    this.retention.afterAppend();
  }

  /** Moves the filled part of the tail buffer into the open batch. */
  private retireBuffer(): void {
    if (this.bufLen === 0) return;
    this.open.bufs.push(this.buf.subarray(0, this.bufLen));
    if (this.buf.length === TAIL_BUFFER) this.open.owned.push(this.buf);
    this.buf = this.pool.pop() ?? Buffer.allocUnsafe(TAIL_BUFFER);
    this.bufLen = 0;
  }

  // ---- sealer ----

  private armChunkTimer(): void {
    this.chunkOpenedAt = Date.now();
    clearTimeout(this.chunkTimer);
    this.chunkTimer = setTimeout(() => this.cut(), this.opts.batch.max_delay);
  }

  /** Writes a cut frame: the records since the last cut become a chunk. */
  cut(): void {
    clearTimeout(this.chunkTimer);
    this.chunkTimer = undefined;
    if (this.chunkRecords === 0 || this.closed) return;
    const id = this.nextChunkId++;
    const end = this.position;
    const o = this.reserve(CUT_PAYLOAD);
    this.addFrame(o, writeCut(this.buf, o + FRAME_HEADER, { chunkId: id, start: this.chunkStart, records: this.chunkRecords }));
    this.sealed.push({ id, segment: this.active.base, start: this.chunkStart, end, next: this.position, records: this.chunkRecords, at: this.chunkOpenedAt });
    this.opts.metrics.journalChunks.inc();
    this.chunkStart = this.position;
    this.chunkRecords = 0;
    this.chunkBytes = 0;
    if (this.active.size >= this.opts.journal.segment_bytes) this.roll();
    this.commitSoon(false);
  }

  /** Starts a new segment; only ever right after a cut, so chunks never span segments. */
  private roll(): void {
    this.commitSoon(true);
    const seg: Segment = { base: this.position, path: join(this.segDir, segmentName(this.position)), size: 0, records: 0, created: false };
    this.segments.push(seg);
    this.active = seg;
    this.open = this.newBatch();
    this.retention.afterRoll();
    this.updateGauges();
  }

  // ---- group commit ----

  private newBatch(): Batch {
    return { segment: this.active, start: this.position, bufs: [], owned: [], bytes: 0, waiters: [] };
  }

  private commitSoon(now: boolean): void {
    if (now) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
      this.enqueueOpen();
      return;
    }
    if (!this.commitTimer) {
      // Commits start at most every commit_interval (fsyncs wear SD cards), but no later than
      // needed: after a quiet spell the first value commits at once.
      const wait = Math.max(0, this.lastCommitStart + this.opts.journal.commit_interval - this.now());
      this.commitTimer = setTimeout(() => {
        this.commitTimer = undefined;
        this.enqueueOpen();
      }, wait);
    }
  }

  private enqueueOpen(): void {
    this.retireBuffer();
    const b = this.open;
    if (b.bytes === 0 && b.waiters.length === 0) return;
    this.queue.push(b);
    this.open = this.newBatch();
    this.drain();
  }

  private drain(): void {
    if (this.flushing || this.queue.length === 0) return;
    const batch = this.queue.shift()!;
    this.flushing = batch;
    this.lastCommitStart = this.now();
    const t0 = process.hrtime.bigint();
    writeBatch(batch, { segDir: this.segDir, sync: this.opts.journal.fsync === 'always', segments: () => this.segments }, (err) => {
      if (err) {
        this.opts.metrics.journalWriteErrors.inc();
        const delay = this.retry.next();
        this.opts.log.error(
          { err: errorMessage(err), retry_ms: delay, segment: batch.segment.path },
          'journal: write failed; acceptance waits and the write is retried',
        );
        this.queue.unshift(batch);
        this.flushing = undefined;
        setTimeout(() => this.drain(), delay).unref();
        return;
      }
      this.retry.reset();
      this.opts.metrics.journalCommits.inc();
      this.opts.metrics.journalCommitSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
      this.committed = batch.start + batch.bytes;
      this.lastCommitAt = this.now();
      this.flushing = undefined;
      for (const o of batch.owned) this.pool.push(o);
      for (const l of this.commitListeners) l(this.committed);
      for (const w of batch.waiters) w(null);
      this.publishCommittedChunks();
      this.drain();
    });
  }

  private syncActive(): void {
    const fd = this.active.fd;
    if (fd !== undefined) fdatasync(fd, () => undefined);
  }

  private publishCommittedChunks(): void {
    let n = 0;
    while (n < this.sealed.length && this.sealed[n].next <= this.committed) n++;
    if (n === 0) return;
    const ready = this.sealed.splice(0, n);
    for (const c of ready) {
      this.chunks.push(c);
      for (const l of this.chunkListeners) l(c);
    }
    this.updateLag();
  }

  // ---- chunks, cursors, retention ----

  /** Called after every group commit with the committed position. */
  onCommit(listener: (committed: number) => void): void {
    this.commitListeners.push(listener);
  }

  /** Bytes appended and not yet committed. */
  get uncommittedBytes(): number {
    return this.position - this.committed;
  }

  /** Calls `listener` with every chunk committed from now on; returns what stops it. */
  onChunk(listener: (c: Chunk) => void): () => void {
    this.chunkListeners.push(listener);
    return () => {
      const i = this.chunkListeners.indexOf(listener);
      if (i >= 0) this.chunkListeners.splice(i, 1);
    };
  }

  cursor(name: string): JournalCursor {
    const c = this.cursors.get(name);
    if (!c) throw new Error(`no cursor for sink ${name}`);
    return c;
  }

  /** Committed chunks after a position, oldest first. */
  chunksAfter(position: number): Chunk[] {
    return this.chunks.filter((c) => c.start >= position);
  }

  /** Reads a committed chunk's records; undefined when its segment was dropped. */
  readChunk(c: Chunk, cb: (err: Error | null, data?: Buffer) => void): void {
    const seg = this.segments.find((s) => s.base === c.segment);
    if (!seg) return cb(null, undefined);
    this.readers.read(seg, c, cb);
  }

  /** A sink acknowledged a chunk: persist its cursor (with the consumer's `extra` state), then delete what every cursor passed. */
  async acknowledge(sink: string, c: Chunk, extra?: unknown): Promise<void> {
    // A cursor only ever moves to the end of a committed chunk: never past what is durable.
    if (c.next > this.committed)
      throw new FgError('FG_E_JOURNAL_STATE', `sink ${sink} acknowledged chunk ${c.id} ending at ${c.next}, past the committed end ${this.committed}`);
    await this.cursor(sink).advance({ chunk: c.id, position: c.next, ...(extra !== undefined ? { extra } : {}) });
    this.retention.release();
  }

  /**
   * A consumer added while running (a partner added by SIGHUP): from the journal's end, or from
   * the oldest chunk the journal still holds. A cursor file left from before is replaced.
   */
  addCursor(name: string, from: 'end' | 'earliest'): JournalCursor {
    const existing = this.cursors.get(name);
    if (existing) return existing;
    const oldest = this.chunks[0];
    const st: CursorState =
      from === 'earliest' && oldest ? { chunk: oldest.id - 1, position: oldest.start } : { chunk: this.nextChunkId - 1, position: this.position };
    const cur = new JournalCursor(this.cursorDir, name, st, this.journalId);
    this.cursors.set(name, cur);
    void cur
      .persistNow()
      .catch((e: unknown) =>
        this.opts.log.warn({ sink: name, err: errorMessage(e) }, 'journal: writing a new cursor failed; it is written with the first acknowledgement'),
      );
    return cur;
  }

  /** A consumer removed (a partner removed or disabled): its cursor no longer holds segments back; its file goes. */
  removeCursor(name: string): void {
    if (!this.cursors.delete(name)) return;
    this.retention.forget(name);
    unlink(cursorFile(this.cursorDir, name), () => undefined);
    this.retention.release();
  }

  /** Records dropped by on_full before this consumer had them (since start). */
  get droppedFor(): ReadonlyMap<string, number> {
    return this.retention.droppedFor;
  }

  /** Records this consumer has not acknowledged: in committed chunks, sealed ones and the open chunk. */
  backlogRecords(name: string): number {
    const pos = this.cursor(name).state.position;
    let n = 0;
    for (const c of this.chunks) if (c.start >= pos) n += c.records;
    for (const c of this.sealed) if (c.start >= pos) n += c.records;
    if (this.chunkStart >= pos) n += this.chunkRecords;
    return n;
  }

  private deleteSegment(seg: Segment): void {
    seg.dropped = true;
    this.totalBytes -= seg.size;
    this.readers.drop(seg.base);
    unlink(seg.path, (err) => {
      if (err && err.code !== 'ENOENT') this.opts.log.warn({ err: err.message, segment: seg.path }, 'journal: could not delete segment');
    });
  }

  /** The disk guard changed its mind (see Retention.setDiskLow). */
  setDiskLow(low: boolean): void {
    this.retention.setDiskLow(low);
  }

  /** Copies the hot-path counters into the registry (before a scrape). */
  syncMetrics(): void {
    for (const k of ['mqtt', 'point', 'birth'] as const) {
      const d = this.appended[k] - this.appendedSynced[k];
      if (d > 0) this.opts.metrics.journalAppendedRecords.inc({ kind: k }, d);
      this.appendedSynced[k] = this.appended[k];
    }
  }

  private updateGauges(): void {
    this.opts.metrics.journalBytes.set(this.totalBytes);
    this.opts.metrics.journalSegments.set(this.segments.length);
  }

  private updateLag(): void {
    for (const [name, cur] of this.cursors) {
      this.opts.metrics.sinkLagBytes.set({ sink: name }, Math.max(0, this.committed - cur.state.position));
      let n = 0;
      for (const c of this.chunks) if (c.start >= cur.state.position) n++;
      this.opts.metrics.sinkLagChunks.set({ sink: name }, n);
    }
  }

  /**
   * How long the oldest record `sink` has not acknowledged has waited, in ms (0 when it has
   * everything that is committed): publish-to-stored delay as it stands now.
   */
  lagMs(sink: string, now = Date.now()): number {
    const pos = this.cursor(sink).state.position;
    for (const c of this.chunks) if (c.next > pos) return Math.max(0, now - (c.at ?? this.recoveredAt));
    return 0;
  }

  lag(sink: string): { bytes: number; chunks: number } {
    const pos = this.cursor(sink).state.position;
    let chunks = 0;
    for (const c of this.chunks) if (c.start >= pos) chunks++;
    return { bytes: Math.max(0, this.position - pos), chunks: chunks + this.sealed.length };
  }

  /** Cuts the open chunk and commits everything; resolves once durable. */
  flush(): Promise<void> {
    this.cut();
    return new Promise((resolve, reject) => {
      this.whenCommitted((err) => (err ? reject(err) : resolve()));
      this.commitSoon(true);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    clearTimeout(this.chunkTimer);
    clearTimeout(this.commitTimer);
    clearInterval(this.fsyncTimer);
    for (const s of this.segments) {
      if (s.fd !== undefined) {
        closeSync(s.fd);
        s.fd = undefined;
      }
    }
    this.readers.closeAll();
    this.retention.close();
  }
}
