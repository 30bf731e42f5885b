/**
 * The journal's identity: a random id made with the journal (journal/journal.id). It is part of
 * every deduplication token and of every cursor, so a reset journal, whose chunk ids start at 1
 * again, is never taken for the one the store or a cursor knew.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../telemetry/logger.js';

/** Reads journal.id, or makes one (a new journal, or one written before fieldgate kept an identity). */
export function readJournalId(segDir: string, hasSegments: boolean, log?: Logger): string {
  const file = join(segDir, 'journal.id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{16,64}$/.test(id)) return id;
    log?.warn({ file, content: id.slice(0, 80) }, 'journal: identity file is unreadable; giving the journal a new identity');
  } catch {
    if (hasSegments) log?.info({ file }, 'journal: no identity file (written by an older fieldgate); giving the journal one');
  }
  const id = randomBytes(8).toString('hex');
  writeFileSync(`${file}.tmp`, `${id}\n`);
  const fd = openSync(`${file}.tmp`, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(`${file}.tmp`, file);
  const d = openSync(segDir, 'r');
  fsyncSync(d);
  closeSync(d);
  return id;
}
