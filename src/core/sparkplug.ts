/**
 * Sparkplug B (spBv1.0) on the wire: topics, payloads (protobufjs with the
 * Sparkplug B schema), and the journal's Birth record that carries an edge
 * node's alias table. Shared by the main thread (births, sequence numbers,
 * Rebirth requests) and the workers (rows), so it sits in core; it is the only
 * file that imports protobufjs.
 *
 * The schema below is Eclipse Tahu's sparkplug_b.proto reduced to the fields
 * fieldgate reads: DataSet, Template, PropertySet and MetaData values are
 * skipped by the decoder as unknown fields (a metric that carries only one of
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

/** protobufjs and the parsed schema, loaded on the first Sparkplug message: gateways without Sparkplug routes (and their workers) never pay for them. */
function payload(): Type {
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

interface RawMetric {
  name?: string;
  alias?: string;
  timestamp?: string;
  datatype?: number;
  is_null?: boolean;
  int_value?: number;
  long_value?: string;
  float_value?: number;
  double_value?: number;
  boolean_value?: boolean;
  string_value?: string;
  bytes_value?: Buffer;
}

const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));

function metricValue(m: RawMetric): { value: number; text: string; unsupported: boolean } {
  const dt = m.datatype ?? 0;
  if (m.int_value !== undefined) {
    const v = m.int_value;
    const value = dt === DataType.Int8 ? (v << 24) >> 24 : dt === DataType.Int16 ? (v << 16) >> 16 : dt === DataType.Int32 ? v | 0 : v >>> 0;
    return { value, text: '', unsupported: false };
  }
  if (m.long_value !== undefined) {
    const big = BigInt(m.long_value);
    if (dt === DataType.DateTime) return { value: Number(big), text: new Date(Number(big)).toISOString(), unsupported: false };
    const exact = dt === DataType.Int64 ? BigInt.asIntN(64, big) : big;
    return { value: Number(exact), text: exact.toString(), unsupported: false };
  }
  if (m.float_value !== undefined) return { value: m.float_value, text: '', unsupported: false };
  if (m.double_value !== undefined) return { value: m.double_value, text: '', unsupported: false };
  if (m.boolean_value !== undefined) return { value: m.boolean_value ? 1 : 0, text: '', unsupported: false };
  if (m.string_value !== undefined) return { value: Number.NaN, text: m.string_value, unsupported: false };
  if (m.bytes_value !== undefined) return { value: Number.NaN, text: Buffer.from(m.bytes_value).toString('base64'), unsupported: false };
  return { value: Number.NaN, text: '', unsupported: !m.is_null };
}

/** Decodes a payload; throws on bytes that are not one. */
export function decodePayload(body: Uint8Array): SpPayload {
  const Payload = payload();
  const msg = Payload.toObject(Payload.decode(body), { longs: String, bytes: Buffer }) as { timestamp?: string; seq?: string; metrics?: RawMetric[] };
  return {
    timestamp: num(msg.timestamp),
    seq: num(msg.seq),
    metrics: (msg.metrics ?? []).map((m) => ({
      name: m.name,
      alias: num(m.alias),
      timestamp: num(m.timestamp),
      datatype: m.datatype,
      isNull: !!m.is_null,
      ...metricValue(m),
    })),
  };
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
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (i >= b.length) throw new Error('truncated');
      const x = b[i++];
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 128;
    }
    throw new Error('varint too long');
  };
  try {
    while (i < b.length) {
      const key = varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) {
        const v = varint();
        if (field === 3) return v;
      } else if (wire === 2) {
        // Not `i += varint()`: that reads i before varint() moves it.
        const len = varint();
        i += len;
      } else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
