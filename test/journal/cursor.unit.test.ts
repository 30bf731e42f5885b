/** JournalCursor and readCursor on a temp folder: what the file holds, what a failed or odd file means. */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JournalCursor, checkCursors, cursorFile, readCursor } from '../../src/journal/cursor.js';
import { tempDir } from '../helpers/journal.js';

describe('cursors', () => {
  it('writes the newest target; state follows what the file holds', async () => {
    const dir = tempDir('fg-cur-');
    const c = new JournalCursor(dir, 's', { chunk: 0, position: 0 }, 'j1');
    const a = c.advance({ chunk: 1, position: 100 });
    const b = c.advance({ chunk: 2, position: 200 });
    await Promise.all([a, b]);
    expect(c.state).toEqual({ chunk: 2, position: 200, journal: 'j1' });
    expect(JSON.parse(readFileSync(cursorFile(dir, 's'), 'utf8'))).toEqual({ chunk: 2, position: 200, journal: 'j1' });
    await c.advance({ chunk: 1, position: 100 }); // never backwards
    expect(c.state.position).toBe(200);
  });

  it('keeps a consumer state across advances that carry none (the journal dropping what nobody sent)', async () => {
    const dir = tempDir('fg-cur-');
    const c = new JournalCursor(dir, 'p', { chunk: 0, position: 0 }, 'j1');
    await c.advance({ chunk: 1, position: 10, extra: { windows: 1 } });
    await c.advance({ chunk: 3, position: 30 });
    expect(readCursor(dir, 'p')).toEqual({ state: { chunk: 3, position: 30, journal: 'j1', extra: { windows: 1 } } });
  });

  it('persistNow writes a cursor that has not moved (a new consumer at the end)', async () => {
    const dir = tempDir('fg-cur-');
    const c = new JournalCursor(dir, 'n', { chunk: 5, position: 500 }, 'j1');
    expect(readCursor(dir, 'n')).toEqual({ problem: 'missing' });
    await c.persistNow();
    expect(readCursor(dir, 'n')).toEqual({ state: { chunk: 5, position: 500, journal: 'j1' } });
  });

  it('tells a missing file from garbage', () => {
    const dir = tempDir('fg-cur-');
    writeFileSync(cursorFile(dir, 'g'), '{"chunk": -1}');
    expect(readCursor(dir, 'g')).toMatchObject({ problem: 'garbage' });
    writeFileSync(cursorFile(dir, 'h'), 'not json');
    expect(readCursor(dir, 'h')).toMatchObject({ problem: 'garbage', detail: '"not json"' });
    expect(readCursor(dir, 'nope')).toEqual({ problem: 'missing' });
  });

  it('refuses a cursor of another journal, or past the end', () => {
    const ok = new Map([['s', { chunk: 1, position: 10, journal: 'j1' }]]);
    expect(() => checkCursors(ok, 'j1', 10, '/c', '/j')).not.toThrow();
    expect(() => checkCursors(ok, 'j2', 10, '/c', '/j')).toThrow(/belongs to journal j1/);
    expect(() => checkCursors(ok, 'j1', 5, '/c', '/j')).toThrow(/past the journal's end 5/);
  });
});
