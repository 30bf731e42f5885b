/**
 * Journal record layout, shared by the writer (main thread) and the decoders
 * (worker threads). A frame is `[u32 length][u32 crc][u8 kind][payload]`:
 * `length` counts the kind byte and the payload, `crc` is CRC-32 over the same
 * bytes. All integers are little-endian.
 */
import { crc32 as zcrc32 } from 'node:zlib';

export const FRAME_HEADER = 8;

export const RecordKind = {
  /** An MQTT PUBLISH as received: time, qos, topic, client id, payload. */
  Mqtt: 1,
  /** A typed value read by a poller (Modbus, OPC UA). */
  Point: 2,
  /** Sparkplug B: an edge node's alias table (core/sparkplug.ts), so every chunk decodes alone. */
  Birth: 3,
  /** A chunk boundary written by the sealer: replay cuts the same chunks. */
  Cut: 4,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** mqtt payload: f64 receivedMs | u8 qos | u16 topicLen | topic | u16 clientLen | client | body */
export const MQTT_FIXED = 8 + 1 + 2 + 2;

/** cut payload: f64 chunkId | f64 start | u32 records */
export const CUT_PAYLOAD = 8 + 8 + 4;

export const PointValueType = { Number: 0, Text: 1, Bool: 2, BigInt: 3 } as const;
export type PointValueType = (typeof PointValueType)[keyof typeof PointValueType];

/** A value from a poller. `text` carries strings, and 64-bit integers exactly. */
export interface Point {
  readonly ts: number;
  readonly device: string;
  readonly tag: string;
  readonly value: number;
  readonly text: string;
  readonly quality: number;
}

/** birth payload: f64 receivedMs | JSON of the edge node's BirthState */
export const BIRTH_FIXED = 8;

/** point payload: f64 ts | f64 receivedMs | u32 quality | f64 value | u16 deviceLen | device | u16 tagLen | tag | text */
export const POINT_FIXED = 8 + 8 + 4 + 8 + 2 + 2;

export interface MqttView {
  receivedMs: number;
  qos: number;
  topic: string;
  clientId: string;
  /** Offsets of the body inside the chunk buffer. */
  bodyStart: number;
  bodyEnd: number;
}

/** Reads an mqtt record's payload at [start, end) into `out` (reused by the caller); the decoder skips the client id. */
export function readMqtt(buf: Buffer, start: number, end: number, out: MqttView, withClient = true): MqttView {
  out.receivedMs = buf.readDoubleLE(start);
  out.qos = buf[start + 8]!;
  const topicLen = buf.readUInt16LE(start + 9);
  let o = start + 11;
  out.topic = buf.toString('utf8', o, o + topicLen);
  o += topicLen;
  const clientLen = buf.readUInt16LE(o);
  o += 2;
  out.clientId = withClient ? buf.toString('utf8', o, o + clientLen) : '';
  o += clientLen;
  out.bodyStart = o;
  out.bodyEnd = end;
  return out;
}

export interface CutView {
  chunkId: number;
  start: number;
  records: number;
}

export function readCut(buf: Buffer, start: number): CutView {
  return { chunkId: buf.readDoubleLE(start), start: buf.readDoubleLE(start + 8), records: buf.readUInt32LE(start + 16) };
}

export interface PointView {
  ts: number;
  receivedMs: number;
  quality: number;
  value: number;
  device: string;
  tag: string;
  text: string;
}

export function readPoint(buf: Buffer, start: number, end: number, out: PointView): PointView {
  out.ts = buf.readDoubleLE(start);
  out.receivedMs = buf.readDoubleLE(start + 8);
  out.quality = buf.readUInt32LE(start + 16);
  out.value = buf.readDoubleLE(start + 20);
  let o = start + 28;
  const devLen = buf.readUInt16LE(o);
  o += 2;
  out.device = buf.toString('utf8', o, o + devLen);
  o += devLen;
  const tagLen = buf.readUInt16LE(o);
  o += 2;
  out.tag = buf.toString('utf8', o, o + tagLen);
  o += tagLen;
  out.text = buf.toString('utf8', o, end);
  return out;
}

/** Slicing-by-4 tables for CRC-32 (IEEE, reflected): T[k][n] is the CRC of byte n followed by k zero bytes. */
const CRC_TABLES = (() => {
  const t = [new Int32Array(256), new Int32Array(256), new Int32Array(256), new Int32Array(256)] as const;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 4; k++) t[k][n] = (t[k - 1][n] >>> 8) ^ t[0][t[k - 1][n] & 0xff];
  return t;
})();
const [T0, T1, T2, T3] = CRC_TABLES;

/**
 * CRC-32 (IEEE, as zlib.crc32) of buf[start, end) without a view object: most frames are tens of
 * bytes, and a subarray per frame was garbage the worker made for every record. Four bytes a step
 * (slicing-by-4): the worker checks every frame of every chunk, and one byte a step was 14 % of its
 * time on single values. Long ranges go to zlib, which is faster per byte.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  if (end - start > 128) return zcrc32(buf.subarray(start, end));
  let c = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  }
  for (; i < end; i++) c = T0[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Kinds a frame may carry; a resync takes only a frame of one of these as real. */
function knownKind(k: number | undefined): boolean {
  return k === RecordKind.Mqtt || k === RecordKind.Point || k === RecordKind.Birth || k === RecordKind.Cut;
}

/** True when a whole, intact frame starts at `o` (its length fits before `to`, its kind is known and its CRC matches). */
export function frameAt(buf: Buffer, o: number, to: number): boolean {
  if (o + FRAME_HEADER + 1 > to) return false;
  const len = buf.readUInt32LE(o);
  if (len < 1 || o + FRAME_HEADER + len > to || !knownKind(buf[o + FRAME_HEADER])) return false;
  return crc32Range(buf, o + FRAME_HEADER, o + FRAME_HEADER + len) === buf.readUInt32LE(o + 4);
}

/**
 * The offset of the next intact frame at or after `from`, or -1. Damage (a flipped word, a hole
 * of zeros) costs the frames it touches, not the rest of the segment. A frame hidden inside a
 * payload could match too; a frame is only looked for here after real damage, and only one whose
 * kind, length and CRC all hold is taken.
 */
export function resync(buf: Buffer, from: number, to: number): number {
  for (let o = from; o + FRAME_HEADER + 1 <= to; o++) if (frameAt(buf, o, to)) return o;
  return -1;
}

/**
 * Walks the frames of a buffer, checking each CRC. A damaged stretch is reported to `damaged(start,
 * end)` and skipped to the next intact frame; a stretch with no intact frame after it is reported
 * with `end === to` (a torn tail when it is the last thing written). Returns the damaged byte count.
 */
export function walkVerified(
  buf: Buffer,
  from: number,
  to: number,
  visit: (kind: number, start: number, end: number, frameStart: number) => void,
  damaged?: (start: number, end: number) => void,
): number {
  let o = from;
  let lost = 0;
  while (o < to) {
    if (frameAt(buf, o, to)) {
      const len = buf.readUInt32LE(o);
      visit(buf[o + FRAME_HEADER], o + FRAME_HEADER + 1, o + FRAME_HEADER + len, o);
      o += FRAME_HEADER + len;
      continue;
    }
    const next = resync(buf, o + 1, to);
    const end = next < 0 ? to : next;
    lost += end - o;
    damaged?.(o, end);
    o = end;
  }
  return lost;
}

// ---- writers (the journal's tail buffer; no allocation per record) ----

/**
 * Copies a string of ASCII chars into `b` at `at`, a char at a time; its length, or -1 at the first
 * char that is not ASCII (the bytes before it are written, and the caller writes it all again as UTF-8).
 * For the short names of records and rows this costs less than the call into Buffer.write
 * (measured on topics of ~30 chars: a record written in 150 ns instead of 250-320).
 */
export function copyAscii(b: Uint8Array, at: number, s: string): number {
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    b[at + i] = c;
  }
  return len;
}

/** Strings at least this long go to Buffer.write at once (records and RowBinary alike). */
export const ASCII_COPY_MAX = 64;

/** A u16 length and the UTF-8 of `s` at `p`; returns the offset after it. */
function putString(b: Buffer, p: number, s: string): number {
  let n = s.length < ASCII_COPY_MAX ? copyAscii(b, p + 2, s) : -1;
  if (n < 0) n = b.write(s, p + 2, 'utf8');
  b.writeUInt16LE(n, p);
  return p + 2 + n;
}

/** Writes an mqtt record's kind and payload at `p` (after the frame header); returns where it ends. */
export function writeMqtt(b: Buffer, p: number, receivedMs: number, qos: number, topic: string, clientId: string, body: Buffer): number {
  b[p++] = RecordKind.Mqtt;
  b.writeDoubleLE(receivedMs, p);
  p += 8;
  b[p++] = qos;
  p = putString(b, p, topic);
  p = putString(b, p, clientId);
  // A single value's few bytes: a loop, not the call into Buffer.copy.
  const n = body.length;
  if (n > 32) return p + body.copy(b, p);
  for (let i = 0; i < n; i++) b[p + i] = body[i];
  return p + n;
}

/** The most bytes writeMqtt may need after the frame header. */
export function mqttMax(topic: string, clientId: string, body: Buffer): number {
  return MQTT_FIXED + (topic.length + clientId.length) * 3 + body.length;
}

export function writePoint(b: Buffer, p: number, receivedMs: number, pt: Point): number {
  b[p++] = RecordKind.Point;
  b.writeDoubleLE(pt.ts, p);
  b.writeDoubleLE(receivedMs, p + 8);
  b.writeUInt32LE(pt.quality >>> 0, p + 16);
  b.writeDoubleLE(pt.value, p + 20);
  p += 28;
  p = putString(b, p, pt.device);
  p = putString(b, p, pt.tag);
  return p + b.write(pt.text, p, 'utf8');
}

export function pointMax(pt: Point): number {
  return POINT_FIXED + (pt.device.length + pt.tag.length + pt.text.length) * 3;
}

export function writeBirth(b: Buffer, p: number, receivedMs: number, state: Buffer): number {
  b[p++] = RecordKind.Birth;
  b.writeDoubleLE(receivedMs, p);
  return p + 8 + state.copy(b, p + 8);
}

export function writeCut(b: Buffer, p: number, cut: CutView): number {
  b[p++] = RecordKind.Cut;
  b.writeDoubleLE(cut.chunkId, p);
  b.writeDoubleLE(cut.start, p + 8);
  b.writeUInt32LE(cut.records, p + 16);
  return p + CUT_PAYLOAD;
}

/** Writes the frame header (length and CRC) of the frame at `o` whose payload ends at `end`; returns the frame's size. */
export function sealFrame(b: Buffer, o: number, end: number): number {
  b.writeUInt32LE(end - o - FRAME_HEADER, o);
  b.writeUInt32LE(crc32Range(b, o + FRAME_HEADER, end), o + 4);
  return end - o;
}

/**
 * Walks the frames of a buffer. Calls `visit(kind, payloadStart, payloadEnd, frameStart)` for each;
 * returns the offset where the walk stopped (a torn or corrupt frame, or the end).
 * With `verify`, a CRC mismatch stops the walk.
 */
export function walkFrames(
  buf: Buffer,
  from: number,
  to: number,
  verify: boolean,
  visit: (kind: number, start: number, end: number, frameStart: number) => void,
  crc32?: (data: Uint8Array) => number,
): number {
  let o = from;
  while (o + FRAME_HEADER + 1 <= to) {
    const len = buf.readUInt32LE(o);
    if (len < 1 || o + FRAME_HEADER + len > to) break;
    if (verify && crc32 && crc32(buf.subarray(o + FRAME_HEADER, o + FRAME_HEADER + len)) !== buf.readUInt32LE(o + 4)) break;
    visit(buf[o + FRAME_HEADER], o + FRAME_HEADER + 1, o + FRAME_HEADER + len, o);
    o += FRAME_HEADER + len;
  }
  return o;
}
