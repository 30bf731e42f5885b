/** The gate a full journal and pushback withhold acceptance with. */
import { describe, expect, it } from 'vitest';
import { Gate } from '../../src/core/gate.js';

describe('Gate', () => {
  it('calls at once while open; lets waiters go in order once opened', () => {
    const g = new Gate();
    const seen: number[] = [];
    g.whenOpen(() => seen.push(0));
    expect(g.close()).toBe(true);
    expect(g.close()).toBe(false);
    g.whenOpen(() => seen.push(1));
    g.whenOpen(() => seen.push(2));
    expect(seen).toEqual([0]);
    expect(g.open()).toBe(true);
    expect(g.open()).toBe(false);
    expect(seen).toEqual([0, 1, 2]);
  });

  it('releaseWaiters lets them go and stays closed', () => {
    const g = new Gate();
    g.close();
    let n = 0;
    g.whenOpen(() => n++);
    g.releaseWaiters();
    expect(n).toBe(1);
    expect(g.closed).toBe(true);
    g.open();
    expect(n).toBe(1);
  });
});
