/**
 * One group commit (journal/commit.ts) on a temp folder: where a batch lands in its segment, what
 * a segment's first write does, and that a short write or a failed one never leaves a hole. The
 * only faults are the OS-level ones the fault harness injects (a short write, ENOSPC).
 */
import { closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeBatch, type Batch } from '../../src/journal/commit.js';
import { SEGMENT_HEADER, segmentHeader, segmentName, type Segment } from '../../src/journal/segment.js';
import { tempDir } from '../helpers/journal.js';

const seg = (dir: string, base: number): Segment => ({ base, path: join(dir, segmentName(base)), size: 0, records: 0, created: false });
const batch = (segment: Segment, start: number, ...parts: string[]): Batch => {
  const bufs = parts.map((p) => Buffer.from(p));
  return { segment, start, bufs, owned: [], bytes: bufs.reduce((a, b) => a + b.length, 0), waiters: [] };
};
const commit = (b: Batch, dir: string, segments: Segment[]) =>
  new Promise<Error | null>((res) => writeBatch(b, { segDir: dir, sync: true, segments: () => segments }, res));
const closeAll = (segments: Segment[]) => {
  for (const s of segments) if (s.fd !== undefined) closeSync(s.fd);
};

describe('group commit', () => {
  afterEach(() => {
    delete process.env.FIELDGATE_FAULTS;
  });

  it("a segment's first write makes the file with its header; batches land at their place; a new segment closes the previous one", async () => {
    const dir = tempDir('fg-commit-');
    const a = seg(dir, 0);
    const segments = [a];
    expect(await commit(batch(a, 0, 'hello ', 'world'), dir, segments)).toBeNull();
    expect(a.created).toBe(true);
    expect(a.fd).toBeDefined();
    expect(await commit(batch(a, 11, '!!'), dir, segments)).toBeNull();
    expect(readFileSync(a.path)).toEqual(Buffer.concat([segmentHeader(0), Buffer.from('hello world!!')]));

    const b = seg(dir, 13);
    segments.push(b);
    expect(await commit(batch(b, 13, 'next'), dir, segments)).toBeNull();
    expect(a.fd).toBeUndefined();
    expect(readFileSync(b.path).subarray(SEGMENT_HEADER).toString()).toBe('next');
    closeAll(segments);
  });

  it('a short write is continued until every byte is on disk', async () => {
    const dir = tempDir('fg-commit-');
    const plan = join(dir, 'faults.json');
    writeFileSync(plan, JSON.stringify({ journal_write: { action: 'short', count: 2 } }));
    process.env.FIELDGATE_FAULTS = plan;
    const a = seg(dir, 0);
    // The header write and the batch write each come up short once.
    expect(await commit(batch(a, 0, 'abcdefgh', 'ijklmnop'), dir, [a])).toBeNull();
    expect(readFileSync(a.path)).toEqual(Buffer.concat([segmentHeader(0), Buffer.from('abcdefghijklmnop')]));
    closeAll([a]);
  });

  it('a failed write (ENOSPC) fails the batch; the same batch again lands at the same place, leaving no hole', async () => {
    const dir = tempDir('fg-commit-');
    const a = seg(dir, 0);
    expect(await commit(batch(a, 0, 'first'), dir, [a])).toBeNull();
    const plan = join(dir, 'faults.json');
    writeFileSync(plan, JSON.stringify({ journal_write: { action: 'enospc', count: 1 } }));
    process.env.FIELDGATE_FAULTS = plan;
    // The harness looks at its plan at most every 100 ms (the test before used another one).
    await new Promise((r) => setTimeout(r, 150));
    const b = batch(a, 5, 'second');
    const err = await commit(b, dir, [a]);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect(await commit(b, dir, [a])).toBeNull();
    expect(readFileSync(a.path).subarray(SEGMENT_HEADER).toString()).toBe('firstsecond');
    closeAll([a]);
  });

  it('a segment that on_full dropped before its tail was written gets nothing', async () => {
    const dir = tempDir('fg-commit-');
    const a = { ...seg(dir, 0), dropped: true };
    expect(await commit(batch(a, 0, 'lost'), dir, [a])).toBeNull();
    expect(() => readFileSync(a.path)).toThrow(/ENOENT/);
  });
});
