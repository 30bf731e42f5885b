/**
 * Sparkplug B (spBv1.0) on the wire: topics, payloads (read by a hand-written
 * protobuf wire reader, written by protobufjs with the Sparkplug B schema), and
 * the journal's Birth record that carries an edge
 * node's alias table. Shared by the main thread (births, sequence numbers,
 * Rebirth requests) and the workers (rows), so it sits in core; it is the only
 * file that imports protobufjs.
 *
 * The schema below is Eclipse Tahu's sparkplug_b.proto reduced to the fields
 * fieldgate reads (the reader follows it): DataSet, Template, PropertySet and
 * MetaData values are skipped by the decoder as unknown fields (a metric that carries only one of
 * them decodes as is_null-less without a value and is counted as unsupported).
 */
import { createRequire } from 'node:module';
import type { Type } from 'protobufjs';

const SCHEMA = `
syntax = "proto2";
package org.eclipse.tahu.protobuf;
message Payload {
  message Metric {
    optional string name = 1;
    optional uint64 alias = 2;
    optional uint64 timestamp = 3;
    optional uint32 datatype = 4;
    optional bool is_historical = 5;
    optional bool is_transient = 6;
    optional bool is_null = 7;
    oneof value {
      uint32 int_value = 10;
      uint64 long_value = 11;
      float float_value = 12;
      double double_value = 13;
      bool boolean_value = 14;
      string string_value = 15;
      bytes bytes_value = 16;
    }
  }
  optional uint64 timestamp = 1;
  repeated Metric metrics = 2;
  optional uint64 seq = 3;
  optional string uuid = 4;
  optional bytes body = 5;
}
`;

let payloadType: Type | undefined;

/**
 * protobufjs and the parsed schema, loaded on the first payload encoded: gateways without Sparkplug
 * routes (and their workers) never pay for them. Decoding does not use it (decodePayload).
 */
export function payload(): Type {
  if (!payloadType) {
    const protobuf = createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');
    payloadType = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('org.eclipse.tahu.protobuf.Payload');
  }
  return payloadType;
}

export const DataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
  DataSet: 16,
  Bytes: 17,
} as const;

export type MessageType = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD' | 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD';
const TYPES = new Set<string>(['NBIRTH', 'NDEATH', 'NDATA', 'NCMD', 'DBIRTH', 'DDEATH', 'DDATA', 'DCMD']);

export interface SparkplugTopic {
  group: string;
  type: MessageType;
  edge: string;
  device: string;
  /** group/edge: the key of an edge node's alias table. */
  node: string;
}

/** spBv1.0/{group}/{type}/{edge}[/{device}]; undefined for anything else (STATE included). */
export function parseTopic(topic: string): SparkplugTopic | undefined {
  const p = topic.split('/');
  if (p[0] !== 'spBv1.0' || p.length < 4 || p.length > 5 || !TYPES.has(p[2])) return undefined;
  if (p.some((x) => x === '')) return undefined;
  return { group: p[1], type: p[2] as MessageType, edge: p[3], device: p[4] ?? '', node: `${p[1]}/${p[3]}` };
}

export interface SpMetric {
  name: string | undefined;
  alias: number | undefined;
  timestamp: number | undefined;
  datatype: number | undefined;
  isNull: boolean;
  value: number;
  text: string;
  /** The metric carried a value of a type fieldgate does not map (DataSet, Template …). */
  unsupported: boolean;
}

export interface SpPayload {
  timestamp: number | undefined;
  seq: number | undefined;
  metrics: SpMetric[];
}

/** A metric's value field as read: which one (the oneof's last), and its bits. */
const enum Val {
  None = 0,
  Int = 10,
  Long = 11,
  Float = 12,
  Double = 13,
  Bool = 14,
  Str = 15,
  Bytes = 16,
}

/**
 * The payload reader: protobuf's wire format by hand, for the fields of SCHEMA. protobufjs's
 * decode and toObject built an object per metric, converted each uint64 to a Long and a string,
 * and deleted the oneof's other fields on every value (dictionary-mode objects): 0.53 µs per
 * metric on a worker against 0.2 for a JSON point. Semantics kept: unknown fields are skipped by
 * wire type, the last of a repeated scalar or of the value oneof wins, uint32 keeps the low 32
 * bits, uint64 is exact (its number is the correctly rounded double), truncated input throws.
 * `test/property/sparkplug.property.test.ts` checks it against protobufjs on random payloads.
 */
class WireReader {
  pos = 0;
  /** The low and high 32 bits of the last varint64/fixed64 read. */
  lo = 0;
  hi = 0;
  nonzero = false;
  private dv: DataView | undefined;
  constructor(
    readonly buf: Uint8Array,
    public end: number,
  ) {}

  /** A little-endian float32 (n = 4) or float64 (n = 8) at the current position. */
  float(n: 4 | 8): number {
    const at = this.fixed(n);
    this.dv ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return n === 4 ? this.dv.getFloat32(at, true) : this.dv.getFloat64(at, true);
  }

  private byte(): number {
    if (this.pos >= this.end) throw new RangeError(`index out of range: ${this.pos} + 1 > ${this.end}`);
    return this.buf[this.pos++];
  }

  /** A varint into lo/hi (up to 10 bytes); `nonzero`: any of its bits set (protobufjs's bool). */
  varint64(): void {
    let lo = 0;
    let hi = 0;
    let any = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      b = this.byte();
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        this.nonzero = lo !== 0;
        return;
      }
    }
    b = this.byte();
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    any = b & 0x7f;
    if (b >= 0x80) {
      for (let shift = 3; shift < 38; shift += 7) {
        b = this.byte();
        hi |= (b & 0x7f) << shift;
        any |= b & 0x7f;
        if (b < 0x80) break;
        if (shift + 7 >= 38) throw new Error('invalid varint encoding');
      }
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    this.nonzero = lo !== 0 || any !== 0;
  }

  /** uint32: the low 32 bits of a varint. */
  uint32(): number {
    this.varint64();
    return this.lo;
  }

  /** uint64 as the nearest double (exact up to 2^53). */
  uint64(): number {
    this.varint64();
    return this.hi * 4294967296 + this.lo;
  }

  bytesEnd(): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.end) throw new RangeError(`index out of range: ${this.pos} + ${len} > ${this.end}`);
    return end;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint64();
    else if (wire === 1) this.fixed(8);
    else if (wire === 2) this.pos = this.bytesEnd();
    else if (wire === 5) this.fixed(4);
    else if (wire === 3) {
      for (;;) {
        const key = this.uint32();
        if ((key & 7) === 4) break;
        this.skip(key & 7);
      }
    } else throw new Error(`invalid wire type ${wire} at offset ${this.pos}`);
  }

  fixed(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw new RangeError(`index out of range: ${at} + ${n} > ${this.end}`);
    this.pos = at + n;
    return at;
  }
}

const textDecoder = new TextDecoder();

function readMetric(r: WireReader, end: number): SpMetric {
  const outer = r.end;
  r.end = end;
  let name: string | undefined;
  let alias: number | undefined;
  let timestamp: number | undefined;
  let datatype: number | undefined;
  let isNull = false;
  let which = Val.None;
  let num = 0;
  let lo = 0;
  let hi = 0;
  let from = 0;
  let to = 0;
  let end1 = 0;
  while (r.pos < end) {
    const key = r.uint32();
    const field = key >>> 3;
    const wire = key & 7;
    switch (field) {
      case 1:
        if (wire !== 2) break;
        end1 = r.bytesEnd();
        name = textDecoder.decode(r.buf.subarray(r.pos, end1));
        r.pos = end1;
        continue;
      case 2:
        if (wire !== 0) break;
        alias = r.uint64();
        continue;
      case 3:
        if (wire !== 0) break;
        timestamp = r.uint64();
        continue;
      case 4:
        if (wire !== 0) break;
        datatype = r.uint32();
        continue;
      case 7:
        if (wire !== 0) break;
        r.varint64();
        isNull = r.nonzero;
        continue;
      case 10:
        if (wire !== 0) break;
        which = Val.Int;
        num = r.uint32();
        continue;
      case 14:
        if (wire !== 0) break;
        which = Val.Bool;
        r.varint64();
        num = r.nonzero ? 1 : 0;
        continue;
      case 11:
        if (wire !== 0) break;
        r.varint64();
        which = Val.Long;
        lo = r.lo;
        hi = r.hi;
        continue;
      case 12:
        if (wire !== 5) break;
        which = Val.Float;
        num = r.float(4);
        continue;
      case 13:
        if (wire !== 1) break;
        which = Val.Double;
        num = r.float(8);
        continue;
      case 15:
      case 16:
        if (wire !== 2) break;
        which = field === 15 ? Val.Str : Val.Bytes;
        to = r.bytesEnd();
        from = r.pos;
        r.pos = to;
        continue;
    }
    r.skip(wire);
  }
  r.end = outer;
  const dt = datatype ?? 0;
  let value = Number.NaN;
  let text = '';
  let unsupported = false;
  switch (which) {
    case Val.Int:
      value = dt === DataType.Int8 ? (num << 24) >> 24 : dt === DataType.Int16 ? (num << 16) >> 16 : dt === DataType.Int32 ? num | 0 : num;
      break;
    case Val.Long: {
      const big = (BigInt(hi) << 32n) | BigInt(lo);
      if (dt === DataType.DateTime) {
        value = Number(big);
        text = new Date(value).toISOString();
      } else {
        const exact = dt === DataType.Int64 ? BigInt.asIntN(64, big) : big;
        value = Number(exact);
        text = exact.toString();
      }
      break;
    }
    case Val.Float:
    case Val.Double:
    case Val.Bool:
      value = num;
      break;
    case Val.Str:
      text = textDecoder.decode(r.buf.subarray(from, to));
      break;
    case Val.Bytes:
      text = Buffer.from(r.buf.buffer, r.buf.byteOffset + from, to - from).toString('base64');
      break;
    default:
      unsupported = !isNull;
  }
  return { name, alias, timestamp, datatype, isNull, value, text, unsupported };
}

/** Decodes a payload; throws on bytes that are not one. */
export function decodePayload(body: Uint8Array): SpPayload {
  const r = new WireReader(body, body.length);
  let timestamp: number | undefined;
  let seq: number | undefined;
  const metrics: SpMetric[] = [];
  while (r.pos < r.end) {
    const key = r.uint32();
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 1 && wire === 0) timestamp = r.uint64();
    else if (field === 2 && wire === 2) {
      const end = r.bytesEnd();
      metrics.push(readMetric(r, end));
      r.pos = end;
    } else if (field === 3 && wire === 0) seq = r.uint64();
    else r.skip(wire);
  }
  return { timestamp, seq, metrics };
}

/** The NCMD that asks an edge node for its births again ("Node Control/Rebirth" = true). */
export function rebirthPayload(now: number): Buffer {
  const Payload = payload();
  const msg = Payload.fromObject({
    timestamp: now,
    metrics: [{ name: 'Node Control/Rebirth', timestamp: now, datatype: DataType.Boolean, boolean_value: true }],
  });
  return Buffer.from(Payload.encode(msg).finish());
}

/** A metric to send: a Double (numbers), String (text), or null (no value). */
export interface OutMetric {
  name: string;
  timestamp: number;
  value: number;
  text: string;
}

/** Encodes a payload of metrics as an edge node publishes it (births and data alike). */
export function encodePayload(timestamp: number, seq: number, metrics: readonly OutMetric[], extra: Array<{ name: string; long: number }> = []): Buffer {
  const Payload = payload();
  const ms: Array<Record<string, unknown>> = extra.map((m) => ({ name: m.name, timestamp, datatype: DataType.UInt64, long_value: m.long }));
  for (const m of metrics) {
    if (m.text !== '' && !Number.isFinite(m.value)) ms.push({ name: m.name, timestamp: m.timestamp, datatype: DataType.String, string_value: m.text });
    else if (Number.isFinite(m.value)) ms.push({ name: m.name, timestamp: m.timestamp, datatype: DataType.Double, double_value: m.value });
    else ms.push({ name: m.name, timestamp: m.timestamp, datatype: DataType.Double, is_null: true });
  }
  return Buffer.from(Payload.encode(Payload.fromObject({ timestamp, seq, metrics: ms })).finish());
}

/** One metric an edge node declared in a birth: its alias, name, datatype and the device ('' for the node). */
export type BirthMetric = [alias: number | null, name: string, datatype: number, device: string];

/** The payload of a Birth journal record: an edge node's metrics as of its last births. */
export interface BirthState {
  node: string;
  metrics: BirthMetric[];
}

export function encodeBirth(s: BirthState): Buffer {
  return Buffer.from(JSON.stringify(s), 'utf8');
}

export function decodeBirth(buf: Buffer, start: number, end: number): BirthState {
  return JSON.parse(buf.toString('utf8', start, end)) as BirthState;
}

/**
 * The top-level seq field (3) of a payload, read without decoding the metrics:
 * the main thread checks sequence numbers of every message, cheaply.
 */
export function scanSeq(b: Uint8Array): number | undefined {
  const r = new WireReader(b, b.length);
  try {
    while (r.pos < r.end) {
      const key = r.uint32();
      if (key === ((3 << 3) | 0)) return r.uint64();
      r.skip(key & 7);
    }
  } catch {
    // Not a payload: the worker counts it; the host has no seq to check.
  }
  return undefined;
}
