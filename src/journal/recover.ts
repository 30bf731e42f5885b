/**
 * Recovery: reads the segments from the one the slowest cursor is in and rebuilds the chunk list
 * from the cut records. It tells two faults apart:
 * - a torn tail: the last segment ends in bytes with no intact frame after them (a write that a
 *   power cut or a full card interrupted, never acknowledged): truncated;
 * - damage in the middle (a flipped word, a hole of zeros, a bad sector): only the frames it
 *   touches are lost. The walk resynchronises at the next intact frame (length, kind and CRC all
 *   hold), counts what was lost (exactly where the chunk's cut frame survived, which records how
 *   many it held; as a lower bound otherwise) and leaves the bytes in place: the worker skips them
 *   the same way.
 * Segments wholly behind every cursor are only measured.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { CUT_PAYLOAD, RecordKind, readCut, walkVerified } from '../core/records.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { SEGMENT_HEADER, checkSegmentHeader, parseSegmentName, segmentName, type Chunk, type Segment } from './segment.js';

/** A damaged stretch found by recovery (positions are global). */
export interface Damage {
  segment: string;
  start: number;
  bytes: number;
  /** Records lost with it: exact when `exact`, else a lower bound. */
  records: number;
  exact: boolean;
}

export interface ScanResult {
  segments: Segment[];
  /** Committed chunks not yet passed by `minPos`. */
  chunks: Chunk[];
  lastCut: number;
  /** Where the records after the last cut start (-1: no segment). */
  openStart: number;
  openRecords: number;
  openBytes: number;
  truncated: number;
  damage: Damage[];
  /** Records lost to damage (exact counts plus lower bounds). */
  lostRecords: number;
}

export interface ScanOptions {
  /** Only look: no truncation, no metrics (fieldgate journal check). */
  readOnly?: boolean;
}

export function scanSegments(dir: string, minPos: number, metrics: Metrics | undefined, log: Logger | undefined, o: ScanOptions = {}): ScanResult {
  const bases = readdirSync(dir)
    .map(parseSegmentName)
    .filter((b): b is number => b !== undefined)
    .sort((a, b) => a - b);
  const r: ScanResult = { segments: [], chunks: [], lastCut: 0, openStart: -1, openRecords: 0, openBytes: 0, truncated: 0, damage: [], lostRecords: 0 };
  // One buffer, grown to the largest segment, reads them all: a buffer per segment left a backlog's
  // scan with up to a segment per segment in RSS until V8 collected them, long after the start.
  const scratch = { buf: Buffer.alloc(0) };
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i];
    const path = join(dir, segmentName(base));
    const fd = openSync(path, o.readOnly ? 'r' : 'r+');
    try {
      const size = fstatSync(fd).size;
      const head = Buffer.alloc(SEGMENT_HEADER);
      readSync(fd, head, 0, SEGMENT_HEADER, 0);
      checkSegmentHeader(path, head, base);
      const next = bases[i + 1];
      const isLast = next === undefined;
      const seg: Segment = { base, path, size: size - SEGMENT_HEADER, records: 0, created: true };
      if (isLast || next > minPos) scanOne(fd, seg, isLast, minPos, r, metrics, log, o, scratch);
      r.segments.push(seg);
    } finally {
      closeSync(fd);
    }
  }
  releaseNow(scratch.buf);
  return r;
}

/**
 * Frees a large buffer's memory at the next minor GC instead of the next major one: the scan buffer
 * lives through the whole synchronous scan, so V8 has moved it to the old generation, where it
 * stayed in RSS (~75 MB after a 256 MiB backlog) until a major GC long after the start. Moving its
 * bytes to a new, unreferenced ArrayBuffer (structuredClone with transfer) leaves them to a young one.
 */
function releaseNow(b: Buffer): void {
  const ab = b.buffer as ArrayBuffer;
  if (b.length === 0) return;
  try {
    structuredClone(ab, { transfer: [ab] });
  } catch {
    // Not movable (a runtime that refuses): the buffer is left to the next major GC, as before.
  }
}

function scanOne(
  fd: number,
  seg: Segment,
  isLast: boolean,
  minPos: number,
  r: ScanResult,
  metrics: Metrics | undefined,
  log: Logger | undefined,
  o: ScanOptions,
  scratch: { buf: Buffer },
): void {
  const base = seg.base;
  // allocUnsafeSlow: an ArrayBuffer of its own, never Node's shared pool of small Buffers, which
  // releaseNow would move away from every Buffer cut from it.
  if (scratch.buf.length < seg.size) scratch.buf = Buffer.allocUnsafeSlow(seg.size);
  // Nothing below keeps a view of `data` past this call: records and cuts become numbers. Only the
  // bytes read count (a short read must not leave a segment read before in the buffer's tail).
  const data = scratch.buf.subarray(0, readSync(fd, scratch.buf, 0, seg.size, SEGMENT_HEADER));
  r.openStart = base;
  r.openRecords = 0;
  r.openBytes = 0;
  /** Global starts of the intact records since the last cut found, and the damage among them. */
  let records: number[] = [];
  let damage: Array<{ start: number; end: number }> = [];
  const lose = (d: Damage): void => {
    r.damage.push(d);
    r.lostRecords += d.records;
  };
  walkVerified(
    data,
    0,
    data.length,
    (kind, payloadStart, payloadEnd, frameStart) => {
      if (kind !== RecordKind.Cut) {
        seg.records++;
        records.push(base + frameStart);
        r.openRecords++;
        r.openBytes += payloadEnd - frameStart;
        return;
      }
      const cut = readCut(data, payloadStart);
      const nextPos = base + payloadStart + CUT_PAYLOAD;
      const own = records.filter((p) => p >= cut.start).length;
      if (cut.start > r.openStart) {
        // The cut of the chunk before was lost in damage: its records still form a chunk (the id
        // before this one, so its token is the one it had, if only one cut was lost).
        const orphan = records.length - own;
        if (cut.chunkId - 1 > r.lastCut && cut.start > minPos)
          r.chunks.push({ id: cut.chunkId - 1, segment: base, start: r.openStart, end: cut.start, next: cut.start, records: orphan });
        // Damage before this chunk's start hit the orphan (whose count is unknown: at least one
        // record each); a stretch running over the start is split, its later part is this chunk's.
        for (const d of damage)
          if (d.start < cut.start) lose({ segment: seg.path, start: d.start, bytes: Math.min(d.end, cut.start) - d.start, records: 1, exact: false });
        damage = damage.filter((d) => d.end > cut.start).map((d) => ({ start: Math.max(d.start, cut.start), end: d.end }));
      }
      if (damage.length > 0) {
        // The cut says how many records its chunk held: what is missing was in the damage.
        const missing = Math.max(0, cut.records - own);
        damage.forEach((d, i) => lose({ segment: seg.path, start: d.start, bytes: d.end - d.start, records: i === 0 ? missing : 0, exact: true }));
      }
      r.lastCut = Math.max(r.lastCut, cut.chunkId);
      if (nextPos > minPos) r.chunks.push({ id: cut.chunkId, segment: base, start: cut.start, end: base + frameStart, next: nextPos, records: cut.records });
      r.openStart = nextPos;
      r.openRecords = 0;
      r.openBytes = 0;
      records = [];
      damage = [];
    },
    (from, to) => damage.push({ start: base + from, end: base + to }),
  );

  // A damaged stretch that runs to the end of the last segment is a torn tail: an unfinished write.
  const tail = damage[damage.length - 1];
  if (isLast && tail && tail.end === base + data.length) {
    damage.pop();
    const keep = tail.start - base;
    const lost = data.length - keep;
    if (!o.readOnly) ftruncateSync(fd, SEGMENT_HEADER + keep);
    seg.size = keep;
    r.truncated += lost;
    if (!o.readOnly) {
      metrics?.journalTornBytes.inc(lost);
      log?.warn({ segment: seg.path, offset: keep, bytes: lost }, 'journal: truncated a torn tail (an unfinished last write)');
    }
  }
  for (const d of damage) lose({ segment: seg.path, start: d.start, bytes: d.end - d.start, records: 1, exact: false });
  if (!isLast && r.openRecords > 0) {
    // Records after the last intact cut of a closed segment (its cut was damaged) belong to no chunk.
    lose({ segment: seg.path, start: r.openStart, bytes: r.openBytes, records: r.openRecords, exact: true });
  }
  if (o.readOnly) return;
  for (const d of r.damage.filter((x) => x.segment === seg.path)) {
    metrics?.journalDamagedBytes.inc(d.bytes);
    metrics?.journalDroppedRecords.inc({ reason: 'corrupt' }, d.records);
    log?.error(
      { segment: seg.path, position: d.start, bytes: d.bytes, records_lost: d.records, exact: d.exact },
      d.exact
        ? 'journal: damaged bytes inside the journal; skipped to the next intact frame, these records are lost'
        : 'journal: damaged bytes inside the journal; skipped to the next intact frame, at least these records are lost',
    );
  }
}
