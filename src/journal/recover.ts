/**
 * Recovery: reads the segments from the one the slowest cursor is in, rebuilds
 * the chunk list from the cut records, and truncates a torn tail of the last
 * segment (a power cut mid-write). Segments wholly behind every cursor are only
 * measured.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { CUT_PAYLOAD, RecordKind, readCut, walkFrames } from '../core/records.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { SEGMENT_HEADER, checkSegmentHeader, parseSegmentName, segmentName, type Chunk, type Segment } from './segment.js';

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
}

export function scanSegments(dir: string, minPos: number, metrics: Metrics, log: Logger): ScanResult {
  const bases = readdirSync(dir)
    .map(parseSegmentName)
    .filter((b): b is number => b !== undefined)
    .sort((a, b) => a - b);
  const r: ScanResult = { segments: [], chunks: [], lastCut: 0, openStart: -1, openRecords: 0, openBytes: 0, truncated: 0 };
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const path = join(dir, segmentName(base));
    const fd = openSync(path, 'r+');
    try {
      const size = fstatSync(fd).size;
      const head = Buffer.alloc(SEGMENT_HEADER);
      readSync(fd, head, 0, SEGMENT_HEADER, 0);
      checkSegmentHeader(path, head, base);
      const next = bases[i + 1];
      const isLast = next === undefined;
      const seg: Segment = { base, path, size: size - SEGMENT_HEADER, records: 0, created: true };
      if (isLast || next > minPos) scanOne(fd, seg, isLast, minPos, r, metrics, log);
      r.segments.push(seg);
    } finally {
      closeSync(fd);
    }
  }
  return r;
}

function scanOne(fd: number, seg: Segment, isLast: boolean, minPos: number, r: ScanResult, metrics: Metrics, log: Logger): void {
  const base = seg.base;
  const data = Buffer.allocUnsafe(seg.size);
  readSync(fd, data, 0, data.length, SEGMENT_HEADER);
  r.openStart = base;
  r.openRecords = 0;
  r.openBytes = 0;
  const stop = walkFrames(data, 0, data.length, true, (kind, ps, pe, fs) => {
    if (kind === RecordKind.Cut) {
      const cut = readCut(data, ps);
      const nextPos = base + ps + CUT_PAYLOAD;
      r.lastCut = Math.max(r.lastCut, cut.chunkId);
      if (nextPos > minPos) r.chunks.push({ id: cut.chunkId, segment: base, start: cut.start, end: base + fs, next: nextPos, records: cut.records });
      r.openStart = nextPos;
      r.openRecords = 0;
      r.openBytes = 0;
    } else {
      seg.records++;
      r.openRecords++;
      r.openBytes += pe - fs;
    }
  }, crc32);
  if (stop < data.length) {
    const lost = data.length - stop;
    if (isLast) {
      ftruncateSync(fd, SEGMENT_HEADER + stop);
      seg.size = stop;
      r.truncated += lost;
      metrics.journalTornBytes.inc(lost);
      log.warn({ segment: seg.path, offset: stop, bytes: lost }, 'journal: truncated a torn tail');
    } else {
      log.error({ segment: seg.path, offset: stop, bytes: lost }, 'journal: corrupt frame inside a closed segment; the rest of that segment is skipped');
    }
  }
  if (!isLast && r.openRecords > 0) {
    // Records after the last cut of a closed segment (possible only after corruption) are not sent.
    metrics.journalDroppedRecords.inc({ reason: 'corrupt' }, r.openRecords);
  }
}
