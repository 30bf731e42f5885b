/**
 * The embedded store's two lanes (chDB in this test file's own process): while the sink keeps
 * inserts waiting without a gap, a user's light query still gets in between two of them, and heavy
 * queries back to back keep to their share of the store's time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChdbTransport } from '../../src/sinks/clickhouse/chdb-client.js';

const dir = mkdtempSync(join(tmpdir(), 'fg-chdb-lanes-'));
const store = new ChdbTransport(dir);
const limits = { timeoutMs: 30_000, maxMemory: 1 << 30 };
let rows = 100_000;
let heavyRows = 10_000_000;
const heavy = () => `SELECT count() FROM numbers(${heavyRows}) WHERE cityHash64(number) % 7 = 1`;

beforeAll(async () => {
  await store.exec('CREATE DATABASE IF NOT EXISTS fg');
  await store.exec('CREATE TABLE fg.t (a UInt64, s String) ENGINE = MergeTree ORDER BY a');
  // Size one insert to this machine: at least 100 ms, so that a turn is clearly longer than a light
  // query; and a heavy query to at least two inserts.
  let insertMs = 0;
  for (;;) {
    const t0 = performance.now();
    await store.exec(`INSERT INTO fg.t SELECT number, toString(cityHash64(number)) FROM numbers(${rows})`);
    insertMs = performance.now() - t0;
    if (insertMs >= 100 || rows >= 20_000_000) break;
    rows *= 2;
  }
  for (;;) {
    const t0 = performance.now();
    await store.query(heavy(), 'TabSeparated', limits);
    if (performance.now() - t0 >= 2 * insertMs || heavyRows >= 10_000_000_000) break;
    heavyRows *= 2;
  }
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Keeps two inserts waiting at all times until `stop()`; records when each one ended. */
function insertStream() {
  let stopped = false;
  const done: number[] = [];
  const one = async (): Promise<void> => {
    while (!stopped) {
      await store.exec(`INSERT INTO fg.t SELECT number, toString(cityHash64(number)) FROM numbers(${rows})`);
      done.push(performance.now());
    }
  };
  const running = Promise.all([one(), one()]);
  return {
    done,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

describe('the embedded store under a backlog of inserts', () => {
  it("lets a user's light query in between two inserts, not after the backlog", async () => {
    const held0 = store.heldMs.store;
    const s = insertStream();
    await new Promise((r) => setTimeout(r, 600));
    const t0 = performance.now();
    const answer = (await store.query('SELECT count() FROM fg.t WHERE a = 7', 'TabSeparated', limits)).toString().trim();
    const end = performance.now();
    await new Promise((r) => setTimeout(r, 600));
    await s.stop();
    const insert = (store.heldMs.store - held0) / s.done.length;
    const after = s.done.filter((e) => e > end).length;
    console.log(`light query: ${Math.round(end - t0)} ms, inserts of ${rows} rows ${Math.round(insert)} ms each, ${after} inserts after it`);
    expect(Number(answer)).toBeGreaterThan(0);
    // Its two calls (the parse, then the query) each wait for at most the insert running.
    expect(end - t0).toBeLessThan(3 * insert + 200);
    // The backlog went on after it: it did not wait for a gap.
    expect(after).toBeGreaterThanOrEqual(2);
  });

  it('keeps heavy queries back to back to about a fifth of a busy store', async () => {
    const s = insertStream();
    await new Promise((r) => setTimeout(r, 300));
    // Each query's start, with what each lane had held by then: from the first start to the last,
    // every query and the inserts that paid for it are inside the window.
    const starts: Array<{ store: number; query: number }> = [];
    const t0 = performance.now();
    while (starts.length < 4 && performance.now() - t0 < 20_000) {
      starts.push({ ...store.heldMs });
      await store.query(heavy(), 'TabSeparated', limits);
    }
    await s.stop();
    const [a, b] = [starts[0], starts.at(-1)!];
    const insertMs = b.store - a.store;
    const queryMs = b.query - a.query;
    console.log(
      `heavy queries of ${heavyRows / 1e6}M rows: ${starts.length} in ${Math.round(performance.now() - t0)} ms; from the first to the last, inserts held the store ${Math.round(insertMs)} ms, queries ${Math.round(queryMs)} ms`,
    );
    expect(starts.length).toBeGreaterThanOrEqual(3);
    // A fifth, give or take the insert that pays a query off.
    expect(queryMs / (insertMs + queryMs)).toBeLessThan(0.3);
    expect(queryMs / (insertMs + queryMs)).toBeGreaterThan(0.1);
  });
});
