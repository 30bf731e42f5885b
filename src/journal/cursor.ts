/**
 * One persisted cursor per sink: the journal position every chunk before which is acknowledged,
 * and the identity of the journal it belongs to (a cursor of another journal means nothing here).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FgError } from '../core/errors.js';
import { faultError, injectedFault } from '../core/faults.js';
import { SerialQueue } from '../core/serial.js';
import { fsyncDir } from './fsutil.js';

export interface CursorState {
  chunk: number;
  position: number;
  /** The journal's identity; absent in cursors written before fieldgate kept one. */
  journal?: string;
  /** The consumer's own state as of this position (a partner's open intervals), written with it atomically. */
  extra?: unknown;
}

export type CursorRead = { state: CursorState } | { state?: undefined; problem: 'missing' | 'garbage'; detail?: string };

export function cursorFile(dir: string, name: string): string {
  return join(dir, `${name}.json`);
}

/** Reads a cursor file; says why when there is none to use. */
export function readCursor(dir: string, name: string): CursorRead {
  let text: string;
  try {
    text = readFileSync(cursorFile(dir, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing' };
    return { problem: 'garbage', detail: (err as Error).message };
  }
  try {
    const j = JSON.parse(text) as Partial<CursorState>;
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
    if (ok(j.chunk) && ok(j.position) && (j.journal === undefined || typeof j.journal === 'string')) {
      return {
        state: { chunk: j.chunk, position: j.position, ...(j.journal ? { journal: j.journal } : {}), ...(j.extra !== undefined ? { extra: j.extra } : {}) },
      };
    }
  } catch {
    // not JSON
  }
  return { problem: 'garbage', detail: JSON.stringify(text.slice(0, 80)) };
}

/**
 * `state` is what the file holds (lag, retention and replay go by it); `target` is the newest
 * acknowledgement, written next. A failed write (ENOSPC, EIO) rejects that advance; the next
 * advance writes the newest target again, so one failure never poisons the writes after it.
 */
export class JournalCursor {
  private readonly writes = new SerialQueue();
  private target: CursorState;
  constructor(
    readonly dir: string,
    readonly name: string,
    public state: CursorState,
    private readonly journalId: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.target = state;
  }

  /** Writes the cursor now, also when it has not moved (a new consumer's first position). */
  persistNow(): Promise<void> {
    this.target = { ...this.target, journal: this.journalId };
    this.state = { ...this.state, journal: undefined };
    return this.sync();
  }

  advance(next: CursorState): Promise<void> {
    // An advance without state (the journal dropping what nobody sent) keeps the consumer's state.
    const extra = next.extra !== undefined ? next.extra : this.target.extra;
    if (next.position > this.target.position)
      this.target = { chunk: next.chunk, position: next.position, journal: this.journalId, ...(extra !== undefined ? { extra } : {}) };
    return this.sync();
  }

  /** Writes the newest target unless the file already holds it. */
  sync(): Promise<void> {
    return this.writes.run(async () => {
      const s = this.target;
      if (this.state.position >= s.position && this.state.journal === s.journal) return;
      await this.persist(s);
      this.state = s;
    });
  }

  private async persist(s: CursorState): Promise<void> {
    const file = cursorFile(this.dir, this.name);
    const tmp = `${file}.tmp`;
    const f = injectedFault('cursor_write');
    if (f && f.action !== 'stall' && f.action !== 'short') throw faultError(f, `cursor ${this.name}`);
    if (f?.action === 'stall') await new Promise((res) => setTimeout(res, f.ms ?? 1000));
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(s));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(this.dir);
  }
}

/**
 * A cursor must belong to the journal and lie within it: a cursor of another journal, or past its
 * end, stops the start (FG_E_JOURNAL_STATE) rather than skip new values.
 */
export function checkCursors(states: Map<string, CursorState>, journalId: string, end: number, cursorDir: string, segDir: string): void {
  const fix = `run \`fieldgate journal check -c CONFIG\` to see the journal and its cursors, and \`fieldgate journal check -c CONFIG --repair\` to go on from here (new values are stored; what the journal lost stays lost)`;
  for (const [name, st] of states) {
    if (st.journal !== undefined && st.journal !== journalId) {
      throw new FgError(
        'FG_E_JOURNAL_STATE',
        `cursor ${name} (${cursorFile(cursorDir, name)}) belongs to journal ${st.journal}, but ${segDir} is journal ${journalId}: the journal was replaced or moved without its cursors; ${fix}`,
      );
    }
    if (st.position > end) {
      throw new FgError(
        'FG_E_JOURNAL_STATE',
        `cursor ${name} (${cursorFile(cursorDir, name)}) is at position ${st.position}, past the journal's end ${end}: the journal lost bytes it had written (a reset, an old backup, a truncation) and new values would be skipped; ${fix}`,
      );
    }
  }
}
