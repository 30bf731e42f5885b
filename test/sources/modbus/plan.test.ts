import { describe, expect, it } from 'vitest';
import { plan, split, SPEC_LIMITS, type PlanItem } from '../../../src/sources/modbus/plan.js';

const L = { maxGap: 16, ...SPEC_LIMITS };
const reg = (tag: number, address: number, size = 1): PlanItem => ({ tag, table: 'holding', address, size });

describe('Modbus request planner (golden cases)', () => {
  it('merges neighbours and gaps up to max_gap into one read', () => {
    expect(plan([reg(0, 100, 2), reg(1, 102), reg(2, 110, 2), reg(3, 128)], L)).toEqual([
      {
        table: 'holding',
        start: 100,
        count: 29,
        items: [
          { tag: 0, offset: 0 },
          { tag: 1, offset: 2 },
          { tag: 2, offset: 10 },
          { tag: 3, offset: 28 },
        ],
      },
    ]);
  });

  it('starts a new read past max_gap', () => {
    expect(plan([reg(0, 0), reg(1, 18)], L).map((r) => [r.start, r.count])).toEqual([
      [0, 1],
      [18, 1],
    ]);
    expect(plan([reg(0, 0), reg(1, 17)], L).map((r) => [r.start, r.count])).toEqual([[0, 18]]);
    expect(plan([reg(0, 0), reg(1, 5)], { ...L, maxGap: 0 }).map((r) => [r.start, r.count])).toEqual([
      [0, 1],
      [5, 1],
    ]);
  });

  it('never reads more than 125 registers or the device limit', () => {
    const tags = Array.from({ length: 200 }, (_, i) => reg(i, i * 2, 2));
    const reads = plan(tags, L);
    expect(reads.map((r) => r.count)).toEqual([124, 124, 124, 28]);
    expect(plan(tags, { ...L, maxRegisters: 32 }).every((r) => r.count <= 32)).toBe(true);
  });

  it('keeps tables apart, sorts by address, and reads bits up to 2000', () => {
    const items: PlanItem[] = [
      { tag: 0, table: 'coil', address: 1999, size: 1 },
      { tag: 1, table: 'coil', address: 0, size: 1 },
      { tag: 2, table: 'input', address: 10, size: 2 },
      { tag: 3, table: 'discrete', address: 5, size: 1 },
      { tag: 4, table: 'coil', address: 2000, size: 1 },
    ];
    // max_gap counts registers; for bits it spans 16 per register (256 here): 0 and 1999 stay apart.
    expect(plan(items, L).map((r) => [r.table, r.start, r.count, r.items.map((i) => i.tag)])).toEqual([
      ['coil', 0, 1, [1]],
      ['coil', 1999, 2, [0, 4]],
      ['discrete', 5, 1, [3]],
      ['input', 10, 2, [2]],
    ]);
    // With a wide gap the 2000-bit limit cuts: 0..1999 in one read, 2000 in the next.
    expect(
      plan(items, { ...L, maxGap: 200 })
        .filter((r) => r.table === 'coil')
        .map((r) => [r.start, r.count]),
    ).toEqual([
      [0, 2000],
      [2000, 1],
    ]);
  });

  it('reads overlapping tags (bits of one register) once', () => {
    expect(plan([reg(0, 7), reg(1, 7), reg(2, 7)], L)).toEqual([
      {
        table: 'holding',
        start: 7,
        count: 1,
        items: [
          { tag: 0, offset: 0 },
          { tag: 1, offset: 0 },
          { tag: 2, offset: 0 },
        ],
      },
    ]);
  });

  it('splits a refused read in halves until the bad tag stands alone', () => {
    const [r] = plan([reg(0, 100, 2), reg(1, 102), reg(2, 110, 2), reg(3, 128)], L);
    const sizes = (t: number) => [2, 1, 2, 1][t];
    const halves = split(r, sizes);
    expect(halves).toEqual([
      {
        table: 'holding',
        start: 100,
        count: 3,
        items: [
          { tag: 0, offset: 0 },
          { tag: 1, offset: 2 },
        ],
      },
      {
        table: 'holding',
        start: 110,
        count: 19,
        items: [
          { tag: 2, offset: 0 },
          { tag: 3, offset: 18 },
        ],
      },
    ]);
    expect(split(halves[1], sizes)).toEqual([
      { table: 'holding', start: 110, count: 2, items: [{ tag: 2, offset: 0 }] },
      { table: 'holding', start: 128, count: 1, items: [{ tag: 3, offset: 0 }] },
    ]);
    const one = split(halves[1], sizes)[1];
    expect(split(one, sizes)).toEqual([one]);
  });
});
