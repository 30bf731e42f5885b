/**
 * Custom tables: ClickHouse column types (as system.columns prints them) and
 * the exact RowBinary encoding of a value into each. A value that does not fit
 * its column is refused with the reason, never coerced silently. Pure.
 */
import type { RowBinaryWriter } from './rowbinary.js';

export type ColumnType =
  | { kind: 'int'; bits: 8 | 16 | 32 | 64; signed: boolean }
  | { kind: 'float'; bits: 32 | 64 }
  | { kind: 'bool' }
  | { kind: 'string' }
  | { kind: 'datetime' }
  | { kind: 'datetime64'; precision: number }
  | { kind: 'nullable'; inner: ColumnType }
  | { kind: 'enum'; bits: 8 | 16; values: Map<string, number> };

/** Parses a type name; a string (what is not supported) for anything else. */
export function parseColumnType(t: string): ColumnType | string {
  const s = t.trim();
  let m = /^LowCardinality\((.*)\)$/.exec(s);
  if (m) return parseColumnType(m[1]);
  m = /^Nullable\((.*)\)$/.exec(s);
  if (m) {
    const inner = parseColumnType(m[1]);
    return typeof inner === 'string' ? inner : { kind: 'nullable', inner };
  }
  m = /^(U?)Int(8|16|32|64)$/.exec(s);
  if (m) return { kind: 'int', bits: Number(m[2]) as 8 | 16 | 32 | 64, signed: m[1] === '' };
  if (s === 'Float32' || s === 'Float64') return { kind: 'float', bits: s === 'Float32' ? 32 : 64 };
  if (s === 'Bool' || s === 'Boolean') return { kind: 'bool' };
  if (s === 'String') return { kind: 'string' };
  if (/^DateTime(\('[^']*'\))?$/.test(s)) return { kind: 'datetime' };
  m = /^DateTime64\((\d)(?:,\s*'[^']*')?\)$/.exec(s);
  if (m) return { kind: 'datetime64', precision: Number(m[1]) };
  m = /^Enum(8|16)\((.*)\)$/.exec(s);
  if (m) {
    const values = new Map<string, number>();
    for (const e of m[2].matchAll(/'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)/g)) values.set(e[1].replace(/\\(.)/g, '$1'), Number(e[2]));
    return { kind: 'enum', bits: Number(m[1]) as 8 | 16, values };
  }
  return `column type ${s} is not supported (Int/UInt 8–64, Float32/64, Bool, String, LowCardinality, DateTime, DateTime64, Nullable, Enum8/16 are)`;
}

const RANGES: Record<string, [bigint, bigint]> = {};
for (const bits of [8, 16, 32, 64]) {
  RANGES[`i${bits}`] = [-(2n ** BigInt(bits - 1)), 2n ** BigInt(bits - 1) - 1n];
  RANGES[`u${bits}`] = [0n, 2n ** BigInt(bits) - 1n];
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'string' && /^[-+]?\d+$/.test(v.trim())) return BigInt(v.trim());
  return undefined;
}

function toMillis(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** A value that is not an object, as text (numbers, booleans, bigints, undefined). */
function primitiveText(v: unknown): string {
  return typeof v === 'symbol' || typeof v === 'function' ? typeof v : `${v as number | boolean | bigint | undefined}`;
}

const show = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : typeof v === 'object' ? JSON.stringify(v)?.slice(0, 40) : primitiveText(v);

/**
 * Writes `v` in the column's RowBinary form; returns undefined, or why it does
 * not fit (the caller rewinds the writer to the row's start).
 */
export function encodeColumn(t: ColumnType, v: unknown, w: RowBinaryWriter): string | undefined {
  if (t.kind === 'nullable') {
    if (v === null || v === undefined) {
      w.int(1, 1, false);
      return undefined;
    }
    w.int(0, 1, false);
    return encodeColumn(t.inner, v, w);
  }
  if (v === null || v === undefined) return 'no value, and the column is not Nullable';
  switch (t.kind) {
    case 'int': {
      const b = toBigInt(v);
      const [lo, hi] = RANGES[`${t.signed ? 'i' : 'u'}${t.bits}`];
      if (b === undefined) return `${show(v)} is not an integer`;
      if (b < lo || b > hi) return `${show(v)} is out of range for ${t.signed ? '' : 'U'}Int${t.bits}`;
      if (t.bits === 64) w.bigint64(b, t.signed);
      else w.int(Number(b), (t.bits / 8) as 1 | 2 | 4, t.signed);
      return undefined;
    }
    case 'float': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : undefined;
      if (n === undefined) return `${show(v)} is not a number`;
      if (t.bits === 32) w.float32(n);
      else w.float64(n);
      return undefined;
    }
    case 'bool': {
      const b = v === true || v === 1 || v === 'true' ? 1 : v === false || v === 0 || v === 'false' ? 0 : undefined;
      if (b === undefined) return `${show(v)} is not a boolean`;
      w.int(b, 1, false);
      return undefined;
    }
    case 'string':
      w.string(typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : primitiveText(v));
      return undefined;
    case 'datetime': {
      const ms = toMillis(v);
      if (ms === undefined) return `${show(v)} is not a time`;
      const s = Math.floor(ms / 1000);
      if (s < 0 || s > 0xffffffff) return `${show(v)} is out of range for DateTime`;
      w.int(s, 4, false);
      return undefined;
    }
    case 'datetime64': {
      const ms = toMillis(v);
      if (ms === undefined) return `${show(v)} is not a time`;
      w.bigint64(t.precision >= 3 ? BigInt(Math.round(ms)) * 10n ** BigInt(t.precision - 3) : BigInt(Math.floor(ms / 10 ** (3 - t.precision))), true);
      return undefined;
    }
    case 'enum': {
      const n = typeof v === 'string' ? t.values.get(v) : typeof v === 'number' && [...t.values.values()].includes(v) ? v : undefined;
      if (n === undefined) return `${show(v)} is not one of the enum's names (${[...t.values.keys()].join(', ')})`;
      w.int(n, (t.bits / 8) as 1 | 2, true);
      return undefined;
    }
  }
}

/** A dot path into a parsed JSON value: sensors.temp, items.0.value. */
export function jsonPath(v: unknown, path: string): unknown {
  let cur = v;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
