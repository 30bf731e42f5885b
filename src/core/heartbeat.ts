/**
 * A loop's heartbeat: every loop that runs while it is configured (a sink, a Modbus endpoint, an
 * OPC UA server, the journal's commits) beats when it makes progress. The gateway exports the last
 * beat of each and `/readyz` fails, naming the loop, when one that has work has not beaten for
 * longer than its own limit: a loop that died quietly, or one stuck on a call that never returns.
 */
export interface LoopProbe {
  /** The loop's name in metrics, logs and /readyz, e.g. `sink:clickhouse`, `modbus:10.0.0.5:502`. */
  readonly loop: string;
  /** When it last made progress (ms since the epoch). */
  readonly lastBeat: number;
  /** How long after that beat the loop said it would be away on purpose (a backoff, a poll interval). */
  readonly expectMs?: number;
  /** True while the loop has something to do (a loop with nothing to do is never stalled). */
  hasWork(): boolean;
  /** How long without a beat, while it has work, counts as stalled. */
  readonly stallAfterMs: number;
  /** What it is doing, for /readyz (e.g. "paused: disk low"). */
  detail?(): string | undefined;
}

export class Heartbeat implements LoopProbe {
  lastBeat = Date.now();
  expectMs = 0;
  constructor(
    readonly loop: string,
    private readonly stall: () => number,
    readonly hasWork: () => boolean,
    readonly detail?: () => string | undefined,
  ) {}

  /** Computed on each look: a reload may change the intervals it depends on. */
  get stallAfterMs(): number {
    return this.stall();
  }

  /** Progress now; `awayMs`: the loop is about to wait that long on purpose. */
  beat(awayMs = 0, now = Date.now()): void {
    this.lastBeat = now;
    this.expectMs = awayMs;
  }
}

export interface Stall {
  loop: string;
  silent_ms: number;
  detail?: string;
}

/** The loops that have work and have not beaten within their limit. */
export function stalledLoops(probes: Iterable<LoopProbe>, now = Date.now()): Stall[] {
  const out: Stall[] = [];
  for (const p of probes) {
    const silent = now - p.lastBeat;
    if (silent > p.stallAfterMs + (p.expectMs ?? 0) && p.hasWork()) {
      const d = p.detail?.();
      out.push({ loop: p.loop, silent_ms: silent, ...(d ? { detail: d } : {}) });
    }
  }
  return out;
}
