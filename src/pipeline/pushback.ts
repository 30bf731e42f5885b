/**
 * `batch.max_lag`: pushback on MQTT publishers when the store cannot keep up.
 *
 * The journal accepts faster than a store takes (JSON arrays: about four times faster than chDB),
 * so without pushback a burst becomes a backlog of tens of seconds and publish-to-queryable
 * latency grows for as long as the burst lasts. While engaged, the broker withholds acceptance
 * (the PUBACK, and reading the socket: the same mechanism as `on_full: block`), so publishers slow
 * to what the store takes and the lag stays near the bound.
 *
 * It engages only while a sink is connected (inserting), more than max_lag behind (the time its
 * backlog takes to store at the rate it stores), and taking less than the journal accepts: the backlog an outage left drains without holding anyone back while it
 * shrinks, and a sink that cannot insert at all leaves buffering to the journal (bounded by
 * journal.max_bytes and on_full), as does one stuck in an insert. It lets go once every sink is within half of max_lag or stops inserting.
 * Until a store has shown its rate (the first inserts of a burst from idle), the age of its oldest
 * record accepted while it was inserting stands in: engaged past half the bound.
 */
import { Gate } from '../core/gate.js';
import { RateLimitedLog, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface LaggingSink {
  name: string;
  /** True while the sink inserts (not starting, failing or buffering). */
  inserting: boolean;
  /** Journal bytes it has not acknowledged. */
  lagBytes: number;
  /** Its cursor: journal bytes it has acknowledged so far (grows as it stores). */
  storedTo: number;
  /** The journal's end: bytes accepted so far. */
  acceptedTo: number;
  /**
   * The end of the last chunk cut: what the sink could insert now. The open chunk waits for
   * batch.max_delay; a store waiting for it is not a slow store.
   */
  sealedTo: number;
  /** How long the oldest record it has not stored has waited, in ms (0 when it has everything). */
  ageMs: number;
}

/** How often the sinks are looked at. */
const TICK_MS = 250;
/**
 * The store's rate is what its cursor advanced per second of the last 8 s in which it had work: long
 * enough to span several inserts (a flood of JSON arrays fills 16 MiB chunks that take a second or
 * more each, and one tick sees a whole chunk land or nothing), and it counts time spent waiting (an
 * insert in flight, a user query ahead of it in chDB's queue) as it affects what a record waits.
 * Idle time, with nothing to store, says nothing about its rate and is left out.
 */
const STORE_WINDOW_TICKS = 32;
/** At least this much time with work before the rate is trusted. */
const MIN_BUSY_MS = 1000;
/** An insert may take this long, whatever the bound, before the store counts as stuck: on a slow box one chunk of arrays takes 1-2 s. */
const SLOW_INSERT_MS = 2000;
/** Before a sink's first insert since the gateway started has landed (into a cold store it can take seconds), how long it may take before it counts as stuck. */
const FIRST_INSERT_MS = 10_000;
/** Whether the journal is accepting faster than the store takes: over the last 0.5 s. */
const ACCEPT_WINDOW_TICKS = 2;

interface Sample {
  at: number;
  storedTo: number;
  acceptedTo: number;
  /** The sink had something to store and was inserting. */
  busy: boolean;
}

interface Track {
  samples: Sample[];
  /** When its cursor last moved. */
  progressAt: number;
  /** Its cursor has moved while it had work: an insert has landed since it was first seen. */
  landed: boolean;
  /**
   * The last look at which it was not inserting, or the first look: what the journal held before
   * it is an outage's backlog (or one recovered from disk), not one built while it inserted.
   */
  downAt: number;
}

/** Bytes per second the store took over the busy spans of `samples`; 0 until MIN_BUSY_MS of them. */
function storeRate(samples: Sample[]): number {
  let bytes = 0;
  let ms = 0;
  for (let i = 1; i < samples.length; i++) {
    if (!samples[i - 1].busy) continue;
    bytes += samples[i].storedTo - samples[i - 1].storedTo;
    ms += samples[i].at - samples[i - 1].at;
  }
  return ms >= MIN_BUSY_MS ? (bytes * 1000) / ms : 0;
}

/** Bytes per second the journal accepted between two samples. */
const perSecond = (a: Sample, b: Sample): number => (b.at > a.at ? ((b.acceptedTo - a.acceptedTo) * 1000) / (b.at - a.at) : 0);

export class Pushback {
  /** Closed while publishers are held back. */
  private readonly gate = new Gate();
  private readonly tracks = new Map<string, Track>();
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  private readonly rare: RateLimitedLog;
  /** The last engagement's warning was written (not left out by the minute's limit). */
  private told = false;
  /**
   * While open: the journal position past which acceptance stops at once, without waiting for the
   * next tick (the slowest sink's cursor plus what it stores in max_lag and one tick at its rate). A release let
   * every held publisher's window in at once, and a tick of accepting on top: at four times what
   * the store takes, two or three bounds' worth before the next look (measured: 17-20 MB, 2 s of
   * store, against a 1 s bound). Infinity: no limit.
   */
  private limit = Infinity;

  /** The bound in use (0: off). */
  readonly maxLagMs: number;

  /**
   * `maxLagMs` 0 turns it off. A bound under two chunk delays (`batch.max_delay`) is raised to
   * that: a store that keeps up still holds about one chunk's worth, and the rate it shows then is
   * the load's, not what it could take.
   */
  constructor(
    maxLagMs: number,
    maxDelayMs: number,
    private readonly sinks: () => LaggingSink[],
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** The journal's end: bytes accepted so far (read on every publish while a limit is set). */
    private readonly acceptedTo: () => number = () => 0,
    private readonly clock: () => number = Date.now,
  ) {
    this.rare = new RateLimitedLog(log, 60_000, clock);
    this.maxLagMs = maxLagMs > 0 ? Math.max(maxLagMs, 2 * maxDelayMs) : 0;
    if (this.maxLagMs !== maxLagMs)
      log.warn({ max_lag_ms: maxLagMs, max_delay_ms: maxDelayMs, used_ms: this.maxLagMs }, 'batch.max_lag is under two batch.max_delay; using that');
  }

  /** True while publishers are held back; closes at once when acceptance reaches the limit. */
  get active(): boolean {
    if (this.gate.closed) return true;
    // Read on every publish: no call into the journal while no limit is set.
    if (this.limit === Infinity || this.acceptedTo() < this.limit) return false;
    this.engage(this.clock());
    return true;
  }

  /** Calls `cb` once pushback lets go (at once when it is not engaged). */
  whenReleased(cb: () => void): void {
    this.gate.whenOpen(cb);
  }

  start(): void {
    if (this.maxLagMs <= 0) return;
    // The first look now, while the sinks are starting: what the journal holds then is recovered
    // from disk. Waiting a tick let a flood that began within it count as such a backlog (older than
    // the first look), which turned off the age rule below until its first insert landed (measured:
    // 2.3 s and 117 MB accepted before pushback engaged, a marker queryable after 8 s).
    this.tick();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.limit = Infinity;
    this.release();
  }

  /**
   * One look at the sinks. A sink's lag is measured as the time its backlog
   * takes to store at the rate it has been storing: what a record accepted now would wait. (The
   * age of its oldest record reacts too late: by the time it passes the bound, the journal has
   * accepted several bounds' worth.) Engages at max_lag, lets go at half of it.
   */
  tick(now = this.clock()): void {
    let over: { s: LaggingSink; drainMs: number } | undefined;
    let within = true;
    let limit = Infinity;
    for (const s of this.sinks()) {
      let t = this.tracks.get(s.name);
      if (!t) this.tracks.set(s.name, (t = { samples: [], progressAt: now, downAt: now, landed: false }));
      if (!s.inserting) t.downAt = now;
      const last = t.samples[t.samples.length - 1];
      const moved = !!last && s.storedTo > last.storedTo;
      if (moved && last.busy) t.landed = true;
      // Progress: the cursor moved, or there is nothing to store (idle is not stuck).
      if (moved || s.lagBytes === 0) t.progressAt = now;
      // Time counts toward the store's rate only while it has work and inserts: an outage's seconds
      // would make the drain after it look slow, and pushback hold publishers for a backlog that shrinks.
      // Busy only with a cut chunk to store: time spent waiting for the open chunk's max_delay counted
      // as the store's own, and under a load it kept up with (Sparkplug NDATA, chunks cut by time,
      // each insert ~0.07 s) the rate came out at ~14 KB/s and pushback held publishers 7.4 s of 8.
      const cur = { at: now, storedTo: s.storedTo, acceptedTo: s.acceptedTo, busy: s.storedTo < s.sealedTo && s.inserting };
      t.samples.push(cur);
      if (t.samples.length > STORE_WINDOW_TICKS + 1) t.samples.shift();
      const n = t.samples.length;
      const rate = storeRate(t.samples);
      const inRate = perSecond(t.samples[Math.max(0, n - 1 - ACCEPT_WINDOW_TICKS)], cur);
      // Not inserting, or stuck in one insert for longer than the bound (and SLOW_INSERT_MS; FIRST_INSERT_MS
      // for the first): the journal buffers (as in an outage), nobody is held back for it. The store
      // also makes no progress while users' queries run ahead of its inserts; holding publishers
      // for that would let queries starve ingest (test/e2e/query-load.test.ts).
      const stuckMs = Math.max(this.maxLagMs, t.landed ? SLOW_INSERT_MS : FIRST_INSERT_MS);
      if (!s.inserting || now - t.progressAt > stuckMs) continue;
      if (rate <= 0) {
        // Caught up, or all it lacks is the open chunk (its age is batch.max_delay's, not the store's).
        if (s.lagBytes === 0 || s.storedTo >= s.sealedTo) continue;
        // No rate yet: a burst from idle whose first inserts are still in flight (a 16 MiB chunk of
        // arrays can take seconds). Waiting for a rate let the journal take several bounds' worth
        // first (measured: 280 MB, a 13 s drain, under the ingest benchmark's JSON flood). Until
        // then, the age of its oldest record stands in for the drain time, but only for a backlog
        // accepted while it was inserting: an outage's backlog is older than that, and drains freely.
        if (now - s.ageMs < t.downAt) continue;
        if (s.ageMs > this.maxLagMs / 4) within = false;
        if (s.ageMs > this.maxLagMs / 2 && inRate > 0) over ??= { s, drainMs: s.ageMs };
        continue;
      }
      const drainMs = (s.lagBytes / rate) * 1000;
      // Within the bound: it may take up to the bound's worth before the next look. (A larger
      // backlog sets no limit: if it shrinks, it drains freely; if it grows, the tick engages.)
      // What it stores until the next look counts in: a backlog draining at the bound is not held.
      if (drainMs <= this.maxLagMs) limit = Math.min(limit, s.storedTo + (rate * (this.maxLagMs + TICK_MS)) / 1000);
      if (drainMs > this.maxLagMs / 2) within = false;
      // Falling further behind: accepting faster than it stores. A draining backlog is not.
      if (drainMs > this.maxLagMs && inRate > rate) over ??= { s, drainMs };
    }
    this.limit = limit;
    if (over && !this.gate.closed) {
      this.engage(now);
      // Under a sustained overload it engages and lets go every few seconds: one warning a minute
      // (with how many it left out), and the "caught up" only for an engagement that was told.
      this.told = this.rare.warn(
        'pushback',
        { sink: over.s.name, lag_ms: Math.round(over.drainMs), max_lag_ms: this.maxLagMs, lag_bytes: over.s.lagBytes },
        'pushback: the store is falling behind; withholding MQTT acknowledgements until it is within batch.max_lag',
      );
    } else if (this.gate.closed && within) {
      this.metrics.brokerPushbackSeconds.inc((now - this.since) / 1000);
      if (this.told) this.log.info({ held_ms: now - this.since }, 'pushback: the store caught up; accepting again');
      this.told = false;
      this.release();
    }
  }
  private engage(now: number): void {
    if (!this.gate.close()) return;
    this.since = now;
    this.metrics.brokerPushback.set(1);
  }

  private release(): void {
    if (!this.gate.closed) return;
    this.metrics.brokerPushback.set(0);
    this.gate.open();
  }
}
