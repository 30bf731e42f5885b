/**
 * batch.max_lag's controller, ticked by hand with the figures a sink reports: it holds publishers
 * back only while a connected sink falls further behind than the bound, never for a backlog that
 * is draining (after an outage) or a sink that cannot insert (the journal buffers then).
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Pushback, type LaggingSink } from '../../src/pipeline/pushback.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { createLogger } from '../../src/telemetry/logger.js';

const MB = 1024 * 1024;

/** A sink that stores `storeRate` bytes/s while the journal takes `acceptRate` bytes/s (0 while held back). */
function sim(o: {
  acceptRate: number;
  storeRate: number;
  backlog?: number;
  maxLagMs?: number;
  inserting?: () => boolean;
  /** True for the ticks the store stores nothing (an insert waits behind a user query). */
  stalled?: (tick: number) => boolean;
  /** Receives the controller's log lines (JSON). */
  lines?: string[];
  /** Chunks are cut this often (batch.max_delay under a load that fills none): the store sees only what was cut. */
  cutEveryMs?: number;
}) {
  const metrics = createMetrics(new Registry(), false);
  const s: LaggingSink = { name: 's', inserting: true, lagBytes: o.backlog ?? 0, storedTo: 0, acceptedTo: o.backlog ?? 0, sealedTo: o.backlog ?? 0, ageMs: 0 };
  // What was accepted when, for the age of the oldest byte not stored; a backlog given is an outage's, a minute old.
  const acceptedAt: Array<{ at: number; end: number }> = o.backlog ? [{ at: -60_000, end: o.backlog }] : [];
  const pb = new Pushback(
    o.maxLagMs ?? 1000,
    100,
    () => [s],
    metrics,
    o.lines ? pino({ level: 'debug' }, { write: (l: string) => o.lines!.push(l) }) : createLogger('silent'),
    () => s.acceptedTo,
    () => now,
  );
  let now = 0;
  let tick = 0;
  let released = 0;
  const step = () => {
    now += 250;
    s.inserting = o.inserting?.() ?? true;
    if (!o.cutEveryMs || now % o.cutEveryMs === 0) s.sealedTo = s.acceptedTo;
    const stored = s.inserting && !o.stalled?.(tick++) ? Math.min(s.sealedTo - s.storedTo, o.storeRate / 4) : 0;
    s.storedTo += stored;
    // Publishes arrive in tenths of a tick, each asking whether it may be accepted (as the broker does).
    let accepted = 0;
    for (let i = 0; i < 10; i++) {
      if (pb.active) break;
      s.acceptedTo += o.acceptRate / 40;
      accepted += o.acceptRate / 40;
    }
    s.lagBytes += accepted - stored;
    if (accepted > 0) acceptedAt.push({ at: now, end: s.acceptedTo });
    while (acceptedAt.length > 0 && acceptedAt[0].end <= s.storedTo) acceptedAt.shift();
    s.ageMs = acceptedAt.length > 0 ? now - acceptedAt[0].at : 0;
    pb.tick(now);
  };
  return {
    pb,
    metrics,
    s,
    /** Runs `seconds`; returns the share of ticks held back and the largest backlog in seconds of store. */
    run(seconds: number) {
      let held = 0;
      let worst = 0;
      for (let i = 0; i < seconds * 4; i++) {
        step();
        if (pb.active) held++;
        worst = Math.max(worst, s.lagBytes / o.storeRate);
      }
      return { held: held / (seconds * 4), worst };
    },
    waitRelease: () => pb.whenReleased(() => released++),
    released: () => released,
  };
}

describe('pushback (batch.max_lag)', () => {
  it('holds a backlog that grows four times faster than the store takes near the bound', () => {
    const x = sim({ acceptRate: 40 * MB, storeRate: 10 * MB });
    // The first second from idle: the store's rate is not known yet (at least 1 s with work), so
    // the backlog runs ahead to about 4 s of storing once, then is held near the bound.
    expect(x.run(8).worst).toBeLessThanOrEqual(4);
    const r = x.run(30);
    // Held back about three quarters of the time: publishers get what the store takes.
    expect(r.held).toBeGreaterThan(0.6);
    expect(r.held).toBeLessThan(0.9);
    // Never more than max_lag plus what the store takes in one tick: acceptance stops at that limit
    // between looks, not at the next look (which let in a tick of accepting: 0.75 s of storing here).
    expect(r.worst).toBeLessThanOrEqual(1.25);
  });

  it('holds nobody while the store keeps up with chunks cut by time, however long they wait for their cut', () => {
    // A load that fills no chunk before batch.max_delay (1 s here): each chunk is cut after a second
    // and stored in a tenth of one. The store waiting for the cut is not a slow store: counted as
    // its own time, the rate came out at a tenth and publishers were held most of the run.
    const x = sim({ acceptRate: 10 * MB, storeRate: 100 * MB, maxLagMs: 1000, cutEveryMs: 1000 });
    const r = x.run(30);
    expect(r.held).toBe(0);
    expect(x.s.storedTo).toBeGreaterThan(250 * MB);
  });

  it('lets in no more than the bound when held publishers all come back at once', () => {
    // On release, every held publisher's window arrives together: 40 times what the store takes.
    const x = sim({ acceptRate: 400 * MB, storeRate: 10 * MB });
    // (The burst from idle, before the store has shown a rate, leaves 32 s of storing to drain first.)
    x.run(60);
    const r = x.run(30);
    // Before the limit between looks: a tick of that (10 s of storing) before the next look.
    expect(r.worst).toBeLessThanOrEqual(1.25);
  });

  it('engages on a burst from idle before the store has shown a rate, by the age of what it holds', () => {
    // The first insert of the burst takes 3 s (a 16 MiB chunk into a cold store): no rate until it
    // lands. With a 4 s bound, waiting for the rate let 3 s of accepting (12 s of storing) in first.
    const x = sim({ acceptRate: 40 * MB, storeRate: 10 * MB, maxLagMs: 4000, stalled: (t) => t < 12 });
    const first = x.run(3);
    expect(first.held).toBeGreaterThan(0.1);
    // Engaged on the first tick the oldest value is past half the bound (2 s): 2.5 s of accepting
    // (ten 250 ms ticks), 10 s of storing, where waiting for the rate would have let in 3 s or more.
    expect(first.worst).toBeLessThanOrEqual(10);
    x.run(30);
    expect(x.s.lagBytes / (10 * MB)).toBeLessThanOrEqual(4.75);
  });

  it('engages on a burst from idle whose first insert takes longer than the bound (a slow box), and holds the backlog near it after', () => {
    // 1 s bound, a first insert of 3 s, then inserts that land once a second (each a chunk of 10 MB).
    const x = sim({ acceptRate: 40 * MB, storeRate: 40 * MB, stalled: (t) => t < 12 || t % 4 !== 0 });
    const first = x.run(3);
    // Engaged once the oldest value passed half the bound, while the first insert was still in flight.
    expect(first.held).toBeGreaterThan(0.5);
    // Inserts that land once a second (at the bound) are slow, not stuck: still held near it.
    const r = x.run(30);
    expect(r.held).toBeGreaterThan(0.5);
    expect(x.s.lagBytes / (10 * MB)).toBeLessThanOrEqual(2);
  });

  it('takes its first look when it starts: a flood that begins before the first tick is not taken for a recovered backlog', () => {
    let now = 0;
    const s: LaggingSink = { name: 's', inserting: true, lagBytes: 0, storedTo: 0, acceptedTo: 0, sealedTo: 0, ageMs: 0 };
    const pb = new Pushback(
      1000,
      100,
      () => [s],
      createMetrics(new Registry(), false),
      createLogger('silent'),
      () => s.acceptedTo,
      () => now,
    );
    pb.start();
    pb.stop(); // the first look is taken; the ticks below are by hand
    // The flood begins 10 ms later, 40 MB/s; the first insert does not land within the second.
    let engagedAt = 0;
    for (now = 250; now <= 1000 && !engagedAt; now += 250) {
      // 16 MiB chunks fill in 0.4 s at this rate: cut as they come.
      s.acceptedTo = s.lagBytes = s.sealedTo = ((now - 10) * 40 * MB) / 1000;
      s.ageMs = now - 10;
      pb.tick(now);
      if (pb.active) engagedAt = now;
    }
    // Engaged once its oldest value passed half the bound (with the first look at the first tick, not until that value was stored).
    expect(engagedAt).toBe(750);
  });

  it('warns once a minute under a sustained overload, and says "caught up" only after a warning it wrote', () => {
    const lines: string[] = [];
    const x = sim({ acceptRate: 40 * MB, storeRate: 10 * MB, lines });
    const said = () => lines.map((l) => JSON.parse(l) as { msg: string; suppressed_since_last?: number });
    const warns = () => said().filter((l) => l.msg.startsWith('pushback: the store is falling behind'));
    const caughtUp = () => said().filter((l) => l.msg.startsWith('pushback: the store caught up'));
    x.run(50);
    // Engaged and let go every few seconds (held about three quarters of the time): one warning.
    expect(warns()).toHaveLength(1);
    expect(caughtUp()).toHaveLength(1);
    x.run(30);
    expect(warns()).toHaveLength(2);
    expect(warns()[1].suppressed_since_last).toBeGreaterThan(3);
    expect(caughtUp()).toHaveLength(2);
  });

  it('never engages while the store keeps up', () => {
    const x = sim({ acceptRate: 8 * MB, storeRate: 10 * MB });
    expect(x.run(30).held).toBe(0);
  });

  it('lets an outage backlog drain without holding anyone back while it shrinks', () => {
    // 60 s of backlog at the store's rate; ingest at half the store's rate.
    const x = sim({ acceptRate: 5 * MB, storeRate: 10 * MB, backlog: 600 * MB });
    expect(x.run(150).held).toBe(0);
    expect(x.s.lagBytes).toBeLessThan(5 * MB);
  });

  it('after an outage, the drain of its backlog under a heavy load is not taken for falling behind', () => {
    // 30 s down with the journal taking 6 MB/s, then a store of 10 MB/s drains it while the load goes on.
    let t = 0;
    const x = sim({ acceptRate: 6 * MB, storeRate: 10 * MB, inserting: () => t++ >= 120 });
    expect(x.run(30).held).toBe(0);
    expect(x.s.lagBytes).toBeGreaterThan(150 * MB);
    expect(x.run(60).held).toBe(0);
    expect(x.s.lagBytes).toBeLessThan(10 * MB);
  });

  it('lets go when the sink stops inserting, so the journal buffers instead', () => {
    let inserting = true;
    const x = sim({ acceptRate: 40 * MB, storeRate: 10 * MB, inserting: () => inserting });
    for (let i = 0; i < 40 && !x.pb.active; i++) x.run(0.25);
    expect(x.pb.active).toBe(true);
    x.waitRelease();
    expect(x.released()).toBe(0);
    inserting = false;
    x.run(0.25);
    expect(x.pb.active).toBe(false);
    expect(x.released()).toBe(1);
    // And it stays off while the sink is down, however large the backlog grows.
    expect(x.run(20).held).toBe(0);
  });

  it('does not engage for a store that keeps up but waits now and then (user queries ahead of its inserts)', () => {
    // One second of every two stores nothing; the load is a fifth of what the store takes.
    const x = sim({ acceptRate: 2 * MB, storeRate: 10 * MB, maxLagMs: 5000, stalled: (t) => t % 8 < 4 });
    expect(x.run(60).held).toBe(0);
  });

  it('lets go when the sink is stuck in one insert for longer than the bound and 2 s; the journal buffers', () => {
    let stuck = false;
    const x = sim({ acceptRate: 40 * MB, storeRate: 10 * MB, stalled: () => stuck });
    for (let i = 0; i < 40 && !x.pb.active; i++) x.run(0.25);
    expect(x.pb.active).toBe(true);
    stuck = true;
    // No progress for the bound, and at least 2 s (an insert on a slow box can take that long).
    x.run(2.5);
    expect(x.pb.active).toBe(false);
    expect(x.run(10).held).toBe(0);
  });

  it('raises a bound under two batch.max_delay to that', () => {
    const metrics = createMetrics(new Registry(), false);
    expect(new Pushback(500, 1000, () => [], metrics, createLogger('silent')).maxLagMs).toBe(2000);
    expect(new Pushback(5000, 1000, () => [], metrics, createLogger('silent')).maxLagMs).toBe(5000);
    expect(new Pushback(0, 1000, () => [], metrics, createLogger('silent')).maxLagMs).toBe(0);
  });

  it('off with max_lag 0: start() arms nothing', () => {
    const x = sim({ acceptRate: 40 * MB, storeRate: 10 * MB, maxLagMs: 0 });
    x.pb.start();
    expect(x.pb.active).toBe(false);
    x.pb.stop();
  });
});
