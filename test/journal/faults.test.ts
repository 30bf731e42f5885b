/**
 * The journal against the faults a small box meets: damaged words in the middle of a segment,
 * a torn tail, a hole of zeros, cursors that do not fit the journal, failing cursor writes, short
 * writes, and a real ENOSPC on a small tmpfs (CI runs as root). Each case counts what is stored
 * afterwards against what was acknowledged.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChunkDecoder } from '../../src/encode/decode.js';
import type { Journal } from '../../src/journal/journal.js';
import type { Chunk } from '../../src/journal/segment.js';
import { TEST_MQTT, readPoints } from '../helpers/frames.js';
import { openJournal, tempDir } from '../helpers/journal.js';

function committed(j: Journal): Promise<void> {
  return new Promise((res, rej) => j.whenCommitted((e) => (e ? rej(e) : res())));
}

function read(j: Journal, c: Chunk): Promise<Buffer> {
  return new Promise((res, rej) => j.readChunk(c, (e, d) => (e || !d ? rej(e ?? new Error('dropped')) : res(d))));
}

/** The values stored from every chunk the journal holds, decoded as a worker does. */
async function values(j: Journal, after = 0): Promise<{ values: number[]; corrupt: number }> {
  const out: number[] = [];
  let corrupt = 0;
  const dec = new ChunkDecoder(TEST_MQTT);
  for (const c of j.chunksAfter(after)) {
    const r = dec.decode(await read(j, c));
    corrupt += r.rejects.corrupt ?? 0;
    if (r.tables[0]) for (const row of readPoints(r.tables[0].data)) out.push(row.value);
  }
  return { values: out, corrupt };
}

function fill(j: Journal, from: number, n: number): void {
  for (let i = from; i < from + n; i++) j.appendMqtt(1_700_000_000_000 + i, 1, `plant/d/v`, 'c', Buffer.from(String(i)));
}

function segFile(dir: string, k = -1): string {
  const segs = readdirSync(join(dir, 'journal'))
    .filter((f) => f.endsWith('.seg'))
    .sort();
  return join(dir, 'journal', segs.at(k)!);
}

function flip(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, offset);
  closeSync(fd);
}

function counter(m: ReturnType<typeof openJournal>['metrics'], reason: string): Promise<number> {
  return m.journalDroppedRecords.get().then((v) => v.values.find((x) => x.labels.reason === reason)?.value ?? 0);
}

describe('journal damage', () => {
  it('a flipped word in the active segment costs the frames it hits, counted exactly; the rest is kept', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 100 });
    fill(journal, 0, 3000);
    await journal.close();
    flip(segFile(dir), 16 + 70_000);

    const again = openJournal(dir, {}, { max_rows: 100 });
    const lost = again.report.lostRecords;
    expect(lost).toBeGreaterThanOrEqual(1); // 4 bytes hit one ~35-byte frame, or two at a boundary
    expect(lost).toBeLessThanOrEqual(2);
    expect(again.report.damagedBytes).toBeGreaterThan(0);
    expect(await counter(again.metrics, 'corrupt')).toBe(lost);
    const v = await values(again.journal);
    expect(v.values.length).toBe(3000 - lost); // counted exactly: the chunk's cut says how many it held
    expect(new Set(v.values).size).toBe(3000 - lost);
    expect(v.corrupt).toBe(1); // the worker skipped the same damaged stretch
    // New values still land after the damage.
    fill(again.journal, 3000, 10);
    await again.journal.flush();
    expect((await values(again.journal)).values.length).toBe(3010 - lost);
    await again.journal.close();
  });

  it('recovery reads each segment alone: a short last segment after long ones gains nothing from them', async () => {
    // The scan reads every segment into one reused buffer; only the bytes of the segment at hand
    // may be walked, or the intact frames of a longer one before would come back as its records.
    const dir = tempDir();
    const { journal } = openJournal(dir, { segment_bytes: 32 * 1024, max_bytes: 1024 ** 2 }, { max_rows: 100 });
    fill(journal, 0, 3005);
    await committed(journal);
    await journal.close();
    const sizes = readdirSync(join(dir, 'journal'))
      .filter((f) => f.endsWith('.seg'))
      .sort()
      .map((f) => readFileSync(join(dir, 'journal', f)).length);
    expect(sizes.length).toBeGreaterThan(2);
    expect(sizes.at(-1)!).toBeLessThan(Math.max(...sizes) / 4);
    const again = openJournal(dir, { segment_bytes: 32 * 1024, max_bytes: 1024 ** 2 }, { max_rows: 100 });
    expect(again.report.lostRecords).toBe(0);
    const got = (await values(again.journal)).values;
    expect(got).toEqual(Array.from({ length: 3005 }, (_, i) => i));
    await again.journal.close();
  });

  it('a flipped word in a closed segment: the same, and the count is exact', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, { segment_bytes: 32 * 1024, max_bytes: 1024 ** 2 }, { max_rows: 100 });
    fill(journal, 0, 3000);
    await journal.close();
    flip(segFile(dir, 0), 16 + 20_000);
    const again = openJournal(dir, { segment_bytes: 32 * 1024, max_bytes: 1024 ** 2 }, { max_rows: 100 });
    const lost = again.report.lostRecords;
    expect(lost === 1 || lost === 2).toBe(true);
    expect(await counter(again.metrics, 'corrupt')).toBe(lost);
    expect((await values(again.journal)).values.length).toBe(3000 - lost);
    await again.journal.close();
  });

  it('a damaged cut frame: its records still form a chunk', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 10 });
    fill(journal, 0, 50);
    await journal.close();
    // The first cut frame follows 10 records; find it by walking the header lengths.
    const seg = readFileSync(segFile(dir));
    let o = 16;
    for (let i = 0; i < 10; i++) o += 8 + seg.readUInt32LE(o);
    flip(segFile(dir), o + 10);
    const again = openJournal(dir, {}, { max_rows: 10 });
    expect(again.report.lostRecords).toBe(1); // a lower bound: a cut holds no value
    expect((await values(again.journal)).values.length).toBe(50);
    await again.journal.close();
  });

  it('a hole of zeros followed by intact frames (a write that a full card cut short) is skipped, not truncated', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 100 });
    fill(journal, 0, 1000);
    await journal.close();
    const fd = openSync(segFile(dir), 'r+');
    writeSync(fd, Buffer.alloc(5000), 0, 5000, 16 + 10_000);
    closeSync(fd);
    const again = openJournal(dir, {}, { max_rows: 100 });
    expect(again.report.truncatedBytes).toBe(0);
    const v = await values(again.journal);
    // ~5000 bytes of ~35-byte frames and the cut inside them: the chunk whose cut survived is
    // counted exactly, the one whose cut was lost at least once; nothing is counted that was kept.
    expect(again.report.lostRecords).toBeGreaterThan(20);
    expect(v.values.length + again.report.lostRecords).toBeLessThanOrEqual(1000);
    expect(v.values.length).toBeGreaterThan(800);
    expect(v.values).toContain(0);
    expect(v.values).toContain(999);
    await again.journal.close();
  });

  it('a torn tail (a half-written last frame) is truncated and costs nothing acknowledged', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 100 });
    fill(journal, 0, 250);
    await journal.close();
    appendFileSync(segFile(dir), Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9]));
    const again = openJournal(dir, {}, { max_rows: 100 });
    expect(again.report.truncatedBytes).toBe(11);
    expect(again.report.lostRecords).toBe(0);
    expect((await values(again.journal)).values.length).toBe(250);
    await again.journal.close();
  });
});

describe('cursors', () => {
  it('a cursor past the journal end stops the start with a clear message', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 10 });
    fill(journal, 0, 100);
    await journal.flush();
    const c = journal.chunksAfter(0);
    await journal.acknowledge('s', c[c.length - 1]);
    await journal.close();
    const file = join(dir, 'cursors', 's.json');
    const st = JSON.parse(readFileSync(file, 'utf8')) as { position: number };
    writeFileSync(file, JSON.stringify({ ...st, position: st.position * 10 }));
    expect(() => openJournal(dir)).toThrow(/cursor s .* is at position \d+, past the journal's end \d+.*fieldgate journal check/);
  });

  it('with fsync: interval, a cursor past the end (unsynced bytes lost in a power cut) is expected: new values go after it', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, { fsync: 'interval' }, { max_rows: 10 });
    fill(journal, 0, 100);
    await journal.flush();
    const c = journal.chunksAfter(0);
    await journal.acknowledge('s', c[c.length - 1]);
    await journal.close();
    // The power cut: the last 40 records' bytes never reached the card, the cursor did.
    const seg = segFile(dir);
    const keep = 16 + (c[5].next - c[0].start);
    const { truncateSync } = await import('node:fs');
    truncateSync(seg, keep);
    const again = openJournal(dir, { fsync: 'interval' }, { max_rows: 10 });
    const pos = again.journal.cursor('s').state.position;
    fill(again.journal, 1000, 10);
    await again.journal.flush();
    expect((await values(again.journal, pos)).values).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i));
    await again.journal.close();
  });

  it('a cursor of another journal (journal/ reset, cursors/ kept) is refused', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 10 });
    fill(journal, 0, 20);
    await journal.flush();
    await journal.acknowledge('s', journal.chunksAfter(0)[0]);
    await journal.close();
    rmSync(join(dir, 'journal'), { recursive: true });
    expect(() => openJournal(dir)).toThrow(/belongs to journal [0-9a-f]+, but .* is journal [0-9a-f]+/);
  });

  it('a garbage cursor file is logged and the sink starts from the oldest chunk', async () => {
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 10 });
    fill(journal, 0, 30);
    await journal.close();
    mkdirSync(join(dir, 'cursors'), { recursive: true });
    writeFileSync(join(dir, 'cursors', 's.json'), '{"chunk": "x"');
    const again = openJournal(dir, {}, { max_rows: 10 });
    expect(again.journal.cursor('s').state.position).toBe(0);
    expect((await values(again.journal, again.journal.cursor('s').state.position)).values.length).toBe(30);
    await again.journal.close();
  });

  it('a reset journal gets a new identity (so its chunk ids make new deduplication tokens)', async () => {
    const dir = tempDir();
    const a = openJournal(dir);
    const first = a.journal.id;
    await a.journal.close();
    expect(openJournal(dir).journal.id).toBe(first);
    rmSync(join(dir, 'journal'), { recursive: true });
    rmSync(join(dir, 'cursors'), { recursive: true });
    const b = openJournal(dir);
    expect(b.journal.id).toMatch(/^[0-9a-f]{16}$/);
    expect(b.journal.id).not.toBe(first);
    await b.journal.close();
  });
});

describe('injected faults', () => {
  const plan = join(tempDir('fg-faults-'), 'faults.json');
  afterEach(() => {
    delete process.env.FIELDGATE_FAULTS;
  });

  it('a failed cursor write is retried and does not poison the writes after it', async () => {
    process.env.FIELDGATE_FAULTS = plan;
    writeFileSync(plan, JSON.stringify({ cursor_write: { action: 'eio', count: 1 } }));
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 10 });
    fill(journal, 0, 30);
    await journal.flush();
    const [c1, c2] = journal.chunksAfter(0);
    await expect(journal.acknowledge('s', c1)).rejects.toThrow(/EIO: injected fault/);
    await journal.acknowledge('s', c2);
    expect(JSON.parse(readFileSync(join(dir, 'cursors', 's.json'), 'utf8'))).toMatchObject({ chunk: c2.id, position: c2.next, journal: journal.id });
    await journal.close();
  });

  it('short writes are continued until the whole batch is written', async () => {
    process.env.FIELDGATE_FAULTS = plan;
    writeFileSync(plan, JSON.stringify({ journal_write: { action: 'short', probability: 0.5 } }));
    await new Promise((r) => setTimeout(r, 150)); // past the plan's re-read interval
    const dir = tempDir();
    const { journal } = openJournal(dir, {}, { max_rows: 50 });
    for (let k = 0; k < 20; k++) {
      fill(journal, k * 100, 100);
      await committed(journal);
    }
    await journal.close();
    delete process.env.FIELDGATE_FAULTS;
    const again = openJournal(dir, {}, { max_rows: 50 });
    expect(again.report.truncatedBytes + again.report.damagedBytes).toBe(0);
    expect((await values(again.journal)).values.length).toBe(2000);
    await again.journal.close();
  });
});

describe('a full card (a real ENOSPC on a 2 MiB tmpfs)', () => {
  const mnt = join(tempDir('fg-enospc-'), 'mnt');
  afterAll(() => {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      // not mounted
    }
  });

  it('withholds acceptance while the card is full, and loses nothing acknowledged', async () => {
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    const dir = join(mnt, 'state');
    const { journal, metrics } = openJournal(dir, { commit_interval: 1 }, { max_rows: 200 });
    const filler = join(mnt, 'filler');
    const s = statfsSync(mnt);
    writeFileSync(filler, Buffer.alloc(s.bavail * s.bsize - 64 * 1024));
    let acked = 0;
    let sent = 0;
    // 30-byte frames: ~6,000 records overflow the 64 KiB left.
    for (let k = 0; k < 60; k++) {
      fill(journal, sent, 100);
      sent += 100;
      journal.whenCommitted((e) => {
        if (!e) acked = sent;
      });
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 500));
    const errors = (await metrics.journalWriteErrors.get()).values[0]?.value ?? 0;
    expect(errors).toBeGreaterThan(0); // ENOSPC happened and was retried
    expect(acked).toBeLessThan(sent); // what did not fit was not acknowledged
    rmSync(filler);
    await journal.flush();
    expect(acked).toBe(sent);
    await journal.close();
    const again = openJournal(dir, {}, { max_rows: 200 });
    expect(again.report.truncatedBytes + again.report.damagedBytes).toBe(0);
    const v = await values(again.journal);
    expect(v.values.length).toBe(sent);
    expect(new Set(v.values).size).toBe(sent);
    await again.journal.close();
  });
});
