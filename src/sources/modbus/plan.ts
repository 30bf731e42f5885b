/**
 * The request planner: a device's tags → the fewest reads. Pure and
 * golden-tested. Tags of one table are sorted by address and merged while the
 * gap between them is at most `maxGap` and the read stays within the limit
 * (125 registers or 2000 bits by the specification, less for devices that say so).
 */

export type ModbusTable = 'coil' | 'discrete' | 'input' | 'holding';

export interface PlanItem {
  /** Caller's index of the tag. */
  tag: number;
  table: ModbusTable;
  address: number;
  /** Registers (or bits) the tag covers. */
  size: number;
}

export interface ReadRequest {
  table: ModbusTable;
  start: number;
  count: number;
  /** Tags in this read and their offset from `start`. */
  items: Array<{ tag: number; offset: number }>;
}

export interface PlanLimits {
  maxGap: number;
  maxRegisters: number;
  maxBits: number;
}

export const SPEC_LIMITS = { maxRegisters: 125, maxBits: 2000 } as const;

const TABLE_ORDER: ModbusTable[] = ['coil', 'discrete', 'input', 'holding'];

export function isBitTable(t: ModbusTable): boolean {
  return t === 'coil' || t === 'discrete';
}

export function plan(items: readonly PlanItem[], limits: PlanLimits): ReadRequest[] {
  const out: ReadRequest[] = [];
  for (const table of TABLE_ORDER) {
    const max = isBitTable(table) ? limits.maxBits : limits.maxRegisters;
    const gap = isBitTable(table) ? limits.maxGap * 16 : limits.maxGap;
    const tags = items.filter((i) => i.table === table).sort((a, b) => a.address - b.address || a.tag - b.tag);
    let cur: ReadRequest | undefined;
    for (const t of tags) {
      const end = t.address + t.size;
      if (cur && t.address - (cur.start + cur.count) <= gap && end - cur.start <= max) {
        cur.count = Math.max(cur.count, end - cur.start);
        cur.items.push({ tag: t.tag, offset: t.address - cur.start });
        continue;
      }
      cur = { table, start: t.address, count: t.size, items: [{ tag: t.tag, offset: 0 }] };
      out.push(cur);
    }
  }
  return out;
}

/**
 * A read answered with an exception (illegal address): split it in two by its
 * tags, so the bad address ends up alone and its neighbours are read again.
 * A read of one tag cannot be split: that tag is bad.
 */
export function split(r: ReadRequest, sizes: (tag: number) => number): ReadRequest[] {
  if (r.items.length < 2) return [r];
  const items = [...r.items].sort((a, b) => a.offset - b.offset);
  const half = Math.ceil(items.length / 2);
  return [items.slice(0, half), items.slice(half)].map((part) => {
    const start = r.start + part[0].offset;
    const end = Math.max(...part.map((i) => r.start + i.offset + sizes(i.tag)));
    return { table: r.table, start, count: end - start, items: part.map((i) => ({ tag: i.tag, offset: r.start + i.offset - start })) };
  });
}
