/**
 * Segment files: a 16-byte header, then frames. Positions are global byte
 * offsets over all segments (the header is not counted), so a chunk is a byte
 * range and a cursor is one number.
 */
import { FgError } from '../core/errors.js';

export const SEGMENT_MAGIC = 0x4c4a4746; // "FGJL" little-endian
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER = 16;

export function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}.seg`;
}

export function parseSegmentName(name: string): number | undefined {
  const m = /^(\d{20})\.seg$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function segmentHeader(base: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER);
  b.writeUInt32LE(SEGMENT_MAGIC, 0);
  b.writeUInt16LE(SEGMENT_VERSION, 4);
  b.writeDoubleLE(base, 8);
  return b;
}

/** Checks a header; throws a precise error for a foreign file or a newer format. */
export function checkSegmentHeader(file: string, h: Buffer, base: number): void {
  if (h.length < SEGMENT_HEADER || h.readUInt32LE(0) !== SEGMENT_MAGIC) {
    throw new FgError('FG_E_JOURNAL_CORRUPT', `${file}: not a fieldgate journal segment (bad magic)`);
  }
  const version = h.readUInt16LE(4);
  if (version > SEGMENT_VERSION) {
    throw new FgError(
      'FG_E_JOURNAL_VERSION',
      `${file}: segment format version ${version} is newer than this fieldgate reads (${SEGMENT_VERSION}); upgrade fieldgate or move the journal aside`,
    );
  }
  if (h.readDoubleLE(8) !== base) {
    throw new FgError('FG_E_JOURNAL_CORRUPT', `${file}: header base ${h.readDoubleLE(8)} does not match the file name`);
  }
}

export interface Segment {
  base: number;
  path: string;
  /** Bytes of frames (durable or queued), not counting the header. */
  size: number;
  /** Records (data frames, not cuts) in the segment. */
  records: number;
  /** Write descriptor of the active segment. */
  fd?: number;
  /** The header and directory entry are durable. */
  created: boolean;
  /** Deleted (passed by every cursor, or dropped when full). */
  dropped?: boolean;
}

/** A sealed, committed byte range of the journal: one insert per table. */
export interface Chunk {
  id: number;
  /** Base of the segment that holds it (chunks never span segments). */
  segment: number;
  start: number;
  /** End of its records (where its cut frame starts). */
  end: number;
  /** After its cut frame: where the next chunk starts; a cursor's position. */
  next: number;
  records: number;
  /** Wall-clock ms when its first record was appended; absent for chunks recovered from disk. */
  at?: number;
}
