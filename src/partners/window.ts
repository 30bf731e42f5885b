/**
 * Downsampling for a send entry with `every`: per (device, tag), intervals aligned to the clock
 * by the values' own timestamps. An interval closes when a later interval's value arrives, or when
 * the journal's clock (the receive time of what is being read) is past its end by one more
 * interval. Everything depends on the journal only, so a replay emits what live operation did;
 * the open intervals travel with the cursor (`state()` / `restore()`).
 */
import type { Aggregate } from './config.js';

export interface Window {
  device: string;
  tag: string;
  /** Interval start and end (ms since the epoch; end exclusive). */
  from: number;
  to: number;
  first: number;
  last: number;
  /** Timestamp of the last value. */
  lastTs: number;
  min: number;
  max: number;
  sum: number;
  /** Values in the interval; `numbers` of them finite (min, max, sum and avg are over those). */
  count: number;
  numbers: number;
  /** Quality of the last value. */
  quality: number;
  /** Text of the last value (strings, exact big integers). */
  text: string;
}

export type WindowState = Window[];

export class Downsampler {
  private readonly open = new Map<string, Window>();

  constructor(private readonly every: number) {}

  /** Adds a value; returns the interval it closed, if any. */
  add(device: string, tag: string, ts: number, value: number, text: string, quality: number): Window | undefined {
    const key = `${device}\u0000${tag}`;
    const from = Math.floor(ts / this.every) * this.every;
    let w = this.open.get(key);
    let closed: Window | undefined;
    if (w && from >= w.to) {
      closed = w;
      w = undefined;
    }
    if (!w) {
      w = {
        device,
        tag,
        from,
        to: from + this.every,
        first: value,
        last: value,
        lastTs: ts,
        min: value,
        max: value,
        sum: 0,
        count: 0,
        numbers: 0,
        quality,
        text,
      };
      this.open.set(key, w);
    }
    // A late value (before the open interval) is folded into it: nothing is emitted twice.
    if (ts >= w.lastTs) {
      w.last = value;
      w.lastTs = ts;
      w.quality = quality;
      w.text = text;
    }
    if (Number.isFinite(value)) {
      if (!(value >= w.min)) w.min = value;
      if (!(value <= w.max)) w.max = value;
      w.sum += value;
      w.numbers++;
    }
    w.count++;
    return closed;
  }

  /** Closes the intervals that ended more than one interval before `clock`. */
  due(clock: number): Window[] {
    const out: Window[] = [];
    for (const [k, w] of this.open) {
      if (w.to + this.every <= clock) {
        out.push(w);
        this.open.delete(k);
      }
    }
    return out;
  }

  state(): WindowState {
    return [...this.open.values()];
  }

  restore(s: WindowState): void {
    this.open.clear();
    for (const w of s) this.open.set(`${w.device}\u0000${w.tag}`, { ...w });
  }

  get size(): number {
    return this.open.size;
  }
}

/** The value of one aggregate over a window (NaN where there were no numbers). */
export function aggregateOf(w: Window, a: Aggregate): number {
  switch (a) {
    case 'last':
      return w.last;
    case 'first':
      return w.first;
    case 'min':
      return w.min;
    case 'max':
      return w.max;
    case 'sum':
      return w.sum;
    case 'avg':
      return w.numbers ? w.sum / w.numbers : Number.NaN;
    case 'count':
      return w.count;
  }
}
