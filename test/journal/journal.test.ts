import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordKind, readMqtt, walkFrames, type MqttView } from '../../src/core/records.js';
import type { Chunk } from '../../src/journal/segment.js';
import { openJournal, tempDir } from '../helpers/journal.js';

function committed(j: { whenCommitted(cb: (e?: Error | null) => void): void }): Promise<void> {
  return new Promise((res, rej) => j.whenCommitted((e) => (e ? rej(e) : res())));
}

function readAll(journal: ReturnType<typeof openJournal>['journal'], c: Chunk): Promise<string[]> {
  return new Promise((res, rej) =>
    journal.readChunk(c, (err, data) => {
      if (err || !data) return rej(err ?? new Error('no data'));
      const out: string[] = [];
      const v = {} as MqttView;
      walkFrames(data, 0, data.length, false, (kind, s, e) => {
        if (kind === RecordKind.Mqtt) {
          readMqtt(data, s, e, v);
          out.push(`${v.topic}=${data.toString('utf8', v.bodyStart, v.bodyEnd)}`);
        }
      });
      res(out);
    }),
  );
}

describe('journal', () => {
  it('commits appends, cuts chunks by rows and replays the same chunks after a restart', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 10 });
    const seen: Chunk[] = [];
    journal.onChunk((c) => seen.push(c));
    for (let i = 0; i < 25; i++) journal.appendMqtt(1000 + i, 1, `t/${i}`, 'c1', Buffer.from(String(i)));
    await committed(journal);
    expect(seen.map((c) => [c.id, c.records])).toEqual([
      [1, 10],
      [2, 10],
    ]);
    expect(await readAll(journal, seen[1])).toEqual(Array.from({ length: 10 }, (_, i) => `t/${i + 10}=${i + 10}`));
    await journal.close(); // cuts the open 5 records as chunk 3

    const again = openJournal(dir, {}, { max_rows: 10 });
    expect(again.report.chunks).toBe(3);
    const replay = again.journal.chunksAfter(0);
    expect(replay.map((c) => [c.id, c.start, c.end, c.records])).toEqual(seen.map((c) => [c.id, c.start, c.end, c.records]));
    expect(seen[2].records).toBe(5);
    await again.journal.acknowledge('s', replay[1]);
    await again.journal.close();
    const third = openJournal(dir, {}, { max_rows: 10 });
    expect(third.journal.chunksAfter(0).map((c) => c.id)).toEqual([3]);
    third.journal.appendMqtt(1, 0, 'x', '', Buffer.alloc(0));
    await third.journal.flush();
    expect(third.journal.chunksAfter(0).map((c) => c.id)).toEqual([3, 4]);
    await third.journal.close();
  });

  it('commits at most every commit_interval, unless commit_bytes are waiting', async () => {
    const { journal, metrics } = openJournal(tempDir(), { commit_interval: 60_000, commit_bytes: 4096 }, { max_rows: 100_000 });
    const commits = async () => (await metrics.journalCommits.get()).values[0]?.value ?? 0;
    const body = Buffer.alloc(100);
    // After a quiet spell the first value commits at once.
    journal.appendMqtt(1, 1, 'a', 'c', body);
    await committed(journal);
    expect(await commits()).toBe(1);
    // Less than commit_bytes waits for the interval (a minute here).
    for (let i = 0; i < 10; i++) journal.appendMqtt(1, 1, 'a', 'c', body);
    await new Promise((r) => setTimeout(r, 100));
    expect(await commits()).toBe(1);
    expect(journal.uncommittedBytes).toBeGreaterThan(1000);
    // Passing commit_bytes commits now, with what waited before it.
    const t0 = Date.now();
    const waited = committed(journal); // the batch holding the ten
    for (let i = 0; i < 40; i++) journal.appendMqtt(1, 1, 'a', 'c', body);
    await waited;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await commits()).toBeGreaterThanOrEqual(2);
    expect(journal.uncommittedBytes).toBeLessThan(4096);
    await journal.close();
  });

  it('cuts a chunk after max_delay', async () => {
    const { journal } = openJournal(tempDir(), {}, { max_rows: 1000, max_delay: 30 });
    const got = new Promise<Chunk>((res) => journal.onChunk(res));
    journal.appendMqtt(1, 1, 'a', 'c', Buffer.from('1'));
    const c = await got;
    expect(c.records).toBe(1);
    await journal.close();
  });

  it('truncates a torn tail and keeps every committed record', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 1000, max_delay: 60_000 });
    for (let i = 0; i < 7; i++) journal.appendMqtt(1, 1, 'a', 'c', Buffer.from(`v${i}`));
    await committed(journal);
    const seg = join(dir, 'journal', readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.seg'))[0]);
    const before = statSync(seg).size;
    // a half-written frame, as a power cut leaves it
    appendFileSync(seg, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9]));
    const again = openJournal(dir, {}, { max_rows: 1000, max_delay: 60_000 });
    expect(again.report.truncatedBytes).toBe(11);
    expect(again.report.openRecords).toBe(7);
    expect(statSync(seg).size).toBe(before);
    await again.journal.flush();
    const chunks = again.journal.chunksAfter(0);
    expect(chunks).toHaveLength(1);
    expect(await readAll(again.journal, chunks[0])).toEqual(Array.from({ length: 7 }, (_, i) => `a=v${i}`));
    await again.journal.close();
    await journal.close().catch(() => undefined);
  });

  it('rolls segments at chunk boundaries and deletes what every cursor passed', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, { segment_bytes: 4096 }, { max_rows: 20 });
    const chunks: Chunk[] = [];
    journal.onChunk((c) => chunks.push(c));
    for (let i = 0; i < 400; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
    await journal.flush();
    const files = readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.seg'));
    expect(files.length).toBeGreaterThan(3);
    for (const c of chunks) expect(c.end - c.start).toBeLessThan(4096 + 2000);
    for (const c of chunks) await journal.acknowledge('s', c);
    expect(readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.seg')).length).toBe(1);
    await journal.close();
  });

  it('drops the oldest segment when full and counts what it dropped', async () => {
    const dir = tempDir();
    const { journal, metrics } = openJournal(dir, { segment_bytes: 4096, max_bytes: 16384 }, { max_rows: 10 });
    for (let i = 0; i < 1000; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
    await journal.flush();
    const dropped = (await metrics.journalDroppedRecords.get()).values.reduce((a, v) => a + v.value, 0);
    const kept = journal.chunksAfter(0).reduce((a, c) => a + c.records, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(dropped + kept).toBe(1000);
    const total = readdirSync(join(dir, 'journal'))
      .filter((f) => f.endsWith('.seg'))
      .reduce((a, f) => a + statSync(join(dir, 'journal', f)).size, 0);
    expect(total).toBeLessThanOrEqual(16384 + 4096 + 2048);
    await journal.close();
  });

  it('counts per consumer what a full journal dropped before that consumer had it', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, { segment_bytes: 4096, max_bytes: 16384 }, { max_rows: 10 }, ['s', 'partner.oem']);
    for (let i = 0; i < 200; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
    await journal.flush();
    // The sink takes everything so far; the partner takes nothing.
    for (const c of journal.chunksAfter(0)) await journal.acknowledge('s', c);
    for (let i = 0; i < 800; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
    await journal.flush();
    const partner = journal.droppedFor.get('partner.oem') ?? 0;
    const sink = journal.droppedFor.get('s') ?? 0;
    expect(partner).toBeGreaterThan(sink);
    expect(partner + journal.backlogRecords('partner.oem')).toBe(1000);
    await journal.close();
  });

  it('starts a new consumer at the end (or the oldest chunk), keeps its state with its cursor, and lets a removed one go', async () => {
    const dir = tempDir();
    let { journal } = openJournal(dir, {}, { max_rows: 10 }, ['s']);
    for (let i = 0; i < 30; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(10, 1));
    await journal.flush();
    journal.addCursor('p.end', 'end');
    journal.addCursor('p.early', 'earliest');
    expect(journal.backlogRecords('p.end')).toBe(0);
    expect(journal.backlogRecords('p.early')).toBe(30);
    const [first] = journal.chunksAfter(journal.cursor('p.early').state.position);
    await journal.acknowledge('p.early', first, { windows: { k: [1, 2] } });
    journal.removeCursor('p.end');
    expect(() => journal.cursor('p.end')).toThrow();
    await journal.close();
    // After a restart the state comes back with the cursor; a consumer that starts at the end has it on disk.
    ({ journal } = openJournal(dir, {}, { max_rows: 10 }, ['s', 'p.early']));
    expect(journal.cursor('p.early').state.extra).toEqual({ windows: { k: [1, 2] } });
    expect(journal.backlogRecords('p.early')).toBe(20);
    await journal.close();
  });

  it('blocks acceptance when full with on_full: block, and resumes once a sink catches up', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, { segment_bytes: 2048, max_bytes: 8192, on_full: 'block' }, { max_rows: 10 });
    const chunks: Chunk[] = [];
    journal.onChunk((c) => chunks.push(c));
    let n = 0;
    while (!journal.blocked && n < 10_000) {
      journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
      n++;
    }
    expect(journal.blocked).toBe(true);
    await journal.flush();
    const resumed = new Promise<void>((res) => journal.whenUnblocked(res));
    for (const c of chunks) await journal.acknowledge('s', c);
    await resumed;
    expect(journal.blocked).toBe(false);
    await journal.close();
  });

  it('stops growing on a low disk with drop_oldest: each new segment costs the oldest', async () => {
    const dir = tempDir();
    const { journal, metrics } = openJournal(dir, { segment_bytes: 4096, max_bytes: 1024 ** 3 }, { max_rows: 10 });
    for (let i = 0; i < 300; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
    await journal.flush();
    const before = readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.seg')).length;
    journal.setDiskLow(true);
    for (let i = 0; i < 1000; i++) journal.appendMqtt(1, 1, 'topic/x', 'c', Buffer.alloc(40, 1));
    await journal.flush();
    // (the segment after the last cut may not have its file yet when counted first)
    expect(readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.seg')).length).toBeLessThanOrEqual(before + 1);
    const dropped = (await metrics.journalDroppedRecords.get()).values.find((v) => v.labels.reason === 'disk_low')?.value ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped + journal.chunksAfter(0).reduce((a, c) => a + c.records, 0)).toBe(1300);
    await journal.close();
  });

  it('refuses a segment written by a newer format', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir);
    journal.appendMqtt(1, 1, 'a', 'c', Buffer.from('1'));
    await journal.close();
    const seg = join(dir, 'journal', readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.seg'))[0]);
    const { openSync, writeSync, closeSync } = await import('node:fs');
    const fd = openSync(seg, 'r+');
    writeSync(fd, Buffer.from([9, 0]), 0, 2, 4);
    closeSync(fd);
    expect(() => openJournal(dir)).toThrow(/format version 9 is newer than this fieldgate reads \(1\)/);
  });
});
