/**
 * OPC UA values into rows, without the vendor library: a Variant's data type
 * (by name) and its JavaScript value become `value` (a number when the type is
 * numeric) and `text` (strings, and 64-bit integers exactly). Pure.
 */

export interface RowValue {
  value: number;
  text: string;
}

const NUMERIC = new Set(['SByte', 'Byte', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Float', 'Double', 'StatusCode']);

/** node-opcua carries Int64/UInt64 as [high, low] 32-bit words. */
function int64(v: unknown, signed: boolean): RowValue {
  let big: bigint;
  const word = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (Array.isArray(v) && v.length === 2 && word(v[0]) && word(v[1])) {
    big = (BigInt.asUintN(32, BigInt(Math.trunc(v[0] as number))) << 32n) | BigInt.asUintN(32, BigInt(Math.trunc(v[1] as number)));
    if (signed) big = BigInt.asIntN(64, big);
  } else if (typeof v === 'bigint') {
    big = v;
  } else if (typeof v === 'number' && Number.isFinite(v)) {
    big = BigInt(Math.trunc(v));
  } else {
    return { value: Number.NaN, text: '' };
  }
  return { value: Number(big), text: big.toString() };
}

/** Text of anything a server may send, without throwing (a value's own toString may be broken). */
function safeText(v: unknown): string {
  try {
    return typeof v === 'string' ? v : String(v);
  } catch {
    try {
      return JSON.stringify(v) ?? '';
    } catch {
      return '';
    }
  }
}

/** One scalar of a Variant. */
export function toRowValue(dataType: string, v: unknown): RowValue {
  if (v === null || v === undefined) return { value: Number.NaN, text: '' };
  if (NUMERIC.has(dataType)) return typeof v === 'number' ? { value: v, text: '' } : { value: Number.NaN, text: '' };
  switch (dataType) {
    case 'Boolean':
      return { value: v ? 1 : 0, text: '' };
    case 'Int64':
      return int64(v, true);
    case 'UInt64':
      return int64(v, false);
    case 'String':
    case 'XmlElement':
      return { value: Number.NaN, text: safeText(v) };
    case 'DateTime':
      return v instanceof Date && !Number.isNaN(v.getTime()) ? { value: v.getTime(), text: v.toISOString() } : { value: Number.NaN, text: '' };
    case 'ByteString':
      return { value: Number.NaN, text: Buffer.isBuffer(v) ? v.toString('base64') : '' };
    case 'LocalizedText':
      return { value: Number.NaN, text: safeText((v as { text?: unknown }).text ?? '') };
    case 'QualifiedName':
      return { value: Number.NaN, text: safeText((v as { name?: unknown }).name ?? '') };
    default:
      // Guid, NodeId, ExpandedNodeId and structures: their text form.
      return { value: Number.NaN, text: safeText(v) };
  }
}

/** A Variant's scalar, or each element of its array (rows tag[i]). */
export function expand(tag: string, dataType: string, isArray: boolean, v: unknown, out: Array<{ tag: string } & RowValue>): void {
  if (!isArray) {
    out.push({ tag, ...toRowValue(dataType, v) });
    return;
  }
  const items = v as ArrayLike<unknown> | null;
  if (!items) return;
  for (let i = 0; i < items.length; i++) out.push({ tag: `${tag}[${i}]`, ...toRowValue(dataType, items[i]) });
}

export interface Deadband {
  type: 'absolute' | 'percent';
  value: number;
}

/**
 * The width of a deadband in engineering units: absolute as given, percent of
 * the EURange span (OPC UA Part 8); undefined when a percent band has no range.
 */
export function deadbandWidth(d: Deadband | undefined, range?: { low: number; high: number }): number | undefined {
  if (!d) return 0;
  if (d.type === 'absolute') return d.value;
  if (!range || !(range.high > range.low)) return undefined;
  return (d.value / 100) * (range.high - range.low);
}

/** Whether a value passes a deadband filter against the last value written (Part 4, 7.22.2: |last − v| > width). */
export function passes(width: number, last: RowValue | undefined, next: RowValue): boolean {
  if (!last) return true;
  if (last.text !== next.text) return true;
  const a = last.value;
  const b = next.value;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) !== Number.isNaN(b);
  return width > 0 ? Math.abs(b - a) > width : a !== b;
}
