/**
 * `fieldgate journal check`: what the journal holds and what a start would do with it, without
 * changing anything; with repair, the two states a start refuses are put right explicitly:
 * a cursor past the journal's end (the journal's next segment starts after it) and a cursor of
 * another journal or an unreadable one (the sink sends this journal from its oldest chunk).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cursorFile, readCursor, type CursorState } from './cursor.js';
import { scanSegments, type Damage } from './recover.js';
import { segmentHeader, segmentName } from './segment.js';

export interface CursorReport {
  sink: string;
  state?: CursorState;
  verdict: 'ok' | 'missing' | 'unreadable' | 'past_end' | 'other_journal';
  detail?: string;
}

export interface CheckReport {
  dir: string;
  identity: string | undefined;
  segments: Array<{ file: string; base: number; bytes: number; records: number }>;
  chunks: number;
  records: number;
  end: number;
  tornTailBytes: number;
  damage: Damage[];
  cursors: CursorReport[];
  /** What a start would do, one line each; `refuse` lines stop it. */
  actions: string[];
  refuse: boolean;
}

export function checkJournal(stateDir: string, sinks: string[], fsyncAlways = true): CheckReport {
  const dir = join(stateDir, 'journal');
  const cursorDir = join(stateDir, 'cursors');
  const r: CheckReport = {
    dir,
    identity: undefined,
    segments: [],
    chunks: 0,
    records: 0,
    end: 0,
    tornTailBytes: 0,
    damage: [],
    cursors: [],
    actions: [],
    refuse: false,
  };
  try {
    r.identity = readFileSync(join(dir, 'journal.id'), 'utf8').trim();
  } catch {
    r.identity = undefined;
  }
  if (!existsSync(dir) || readdirSync(dir).length === 0) {
    r.actions.push('start a new journal');
  } else {
    const scan = scanSegments(dir, 0, undefined, undefined, { readOnly: true });
    r.segments = scan.segments.map((s) => ({ file: s.path, base: s.base, bytes: s.size, records: s.records }));
    r.chunks = scan.chunks.length;
    r.records = scan.segments.reduce((a, s) => a + s.records, 0);
    const last = scan.segments[scan.segments.length - 1];
    r.end = last ? last.base + last.size : 0;
    r.tornTailBytes = scan.truncated;
    r.damage = scan.damage;
    if (!r.identity) r.actions.push('give the journal an identity (journal.id)');
    if (scan.truncated) r.actions.push(`truncate a torn tail of ${scan.truncated} bytes (an unfinished write; never acknowledged with fsync: always)`);
    if (scan.damage.length)
      r.actions.push(
        `skip ${scan.damage.length} damaged stretch(es), ${scan.damage.reduce((a, d) => a + d.bytes, 0)} bytes, losing ${scan.lostRecords} record(s)${scan.damage.some((d) => !d.exact) ? ' at least' : ''} (counted in fieldgate_journal_dropped_records_total{reason="corrupt"})`,
      );
  }
  for (const sink of sinks) {
    const c = readCursor(cursorDir, sink);
    if (!c.state) {
      r.cursors.push({ sink, verdict: c.problem === 'missing' ? 'missing' : 'unreadable', ...(c.detail ? { detail: c.detail } : {}) });
      r.actions.push(`sink ${sink}: ${c.problem === 'missing' ? 'no cursor' : 'unreadable cursor'}; send the journal from its oldest chunk`);
      continue;
    }
    const st = c.state;
    if (st.journal !== undefined && r.identity !== undefined && st.journal !== r.identity) {
      r.cursors.push({ sink, state: st, verdict: 'other_journal', detail: `cursor of journal ${st.journal}, journal is ${r.identity}` });
      r.actions.push(`refuse: cursor ${sink} belongs to journal ${st.journal}, not to ${r.identity}`);
      r.refuse = true;
    } else if (st.position > r.end && r.segments.length > 0) {
      r.cursors.push({ sink, state: st, verdict: 'past_end', detail: `position ${st.position} > end ${r.end}` });
      if (fsyncAlways) {
        r.actions.push(`refuse: cursor ${sink} at ${st.position} is past the journal's end ${r.end}`);
        r.refuse = true;
      } else {
        // What a power cut leaves without fsync on every commit: the start goes on after the cursor.
        r.actions.push(
          `start the next segment after cursor ${sink} at ${st.position} (the journal ends at ${r.end}; fsync is not always, so unsynced bytes a sink had stored were lost)`,
        );
      }
    } else {
      r.cursors.push({ sink, state: st, verdict: 'ok' });
    }
  }
  if (!r.refuse) r.actions.push('start');
  return r;
}

/** Puts right what a start refuses (the caller holds the state_dir lock). Returns what it did. */
export function repairJournal(stateDir: string, r: CheckReport): string[] {
  const done: string[] = [];
  const first = r.segments[0]?.base ?? 0;
  for (const c of r.cursors) {
    if (c.verdict === 'past_end' && c.state) {
      // An empty segment at the cursor: the journal's next value lands after it, none is skipped.
      const base = Math.max(...r.cursors.filter((x) => x.verdict === 'past_end').map((x) => x.state!.position));
      const file = join(r.dir, segmentName(base));
      if (!existsSync(file)) {
        writeFileSync(file, segmentHeader(base));
        done.push(`started an empty segment at position ${base}, past cursor ${c.sink}; what the journal lost between ${r.end} and ${base} stays lost`);
      }
    } else if (c.verdict === 'other_journal' || c.verdict === 'unreadable') {
      const state: CursorState = { chunk: 0, position: first, ...(r.identity ? { journal: r.identity } : {}) };
      writeFileSync(cursorFile(join(stateDir, 'cursors'), c.sink), JSON.stringify(state));
      done.push(`cursor ${c.sink} now starts at this journal's oldest chunk (position ${first})`);
    }
  }
  return done;
}
