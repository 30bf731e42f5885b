/**
 * One fieldgate per state_dir, held by an exclusive lock of the kernel on an open file: released
 * when the process ends however it ends (SIGKILL included), never guessed from a pid. A pid file
 * failed two ways: two containers on one volume each run as pid 1 in their own namespace and took
 * each other's lock for stale, and two simultaneous starts raced on reading an empty file.
 *
 * The lock is LevelDB's (classic-level, already shipped for the broker's persistence, prebuilt for
 * x64 and arm64): it holds fcntl(F_SETLK) on state_dir/lock/LOCK for as long as the database is
 * open, works across PID namespaces on one kernel, and needs no native build of our own. Who holds
 * it is written beside it for messages only.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { FgError } from '../core/errors.js';

export type Unlock = () => Promise<void>;

function lockDir(dir: string): string {
  return join(dir, 'lock');
}

/** Who holds the lock, as the holder wrote it ("pid 42 on host gw-1 since …"), for messages. */
export function lockHolderText(dir: string): string {
  try {
    const h = JSON.parse(readFileSync(join(lockDir(dir), 'holder.json'), 'utf8')) as { pid: number; host: string; since: string };
    return `pid ${h.pid} on ${h.host} since ${h.since}`;
  } catch {
    return 'another process';
  }
}

/** Takes the lock, or returns undefined when another process holds it. */
/**
 * Makes state_dir and checks that it can be written: a file in its place, a read-only filesystem
 * or missing permissions get one clear message (FG_E_STATE_DIR), not a stack trace.
 */
export function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? 'a file is in the way; expected a folder'
        : code === 'EROFS'
          ? 'the filesystem is read-only'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied (the service user must own it)'
            : (err as Error).message;
    throw new FgError('FG_E_STATE_DIR', `state_dir ${dir} cannot be created: ${why}`);
  }
  const probe = join(dir, `.write-test-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EROFS'
        ? 'the filesystem is read-only'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied (the service user must own it)'
          : code === 'ENOSPC'
            ? 'the disk is full'
            : (err as Error).message;
    throw new FgError('FG_E_STATE_DIR', `state_dir ${dir} is not writable: ${why}`);
  }
}

export async function tryLockStateDir(dir: string): Promise<Unlock | undefined> {
  prepareStateDir(dir);
  const db = new ClassicLevel(lockDir(dir));
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') return undefined;
    throw new FgError(
      'FG_E_STATE_LOCKED',
      `state_dir ${dir}: cannot open its lock ${lockDir(dir)}: ${(err as Error).message}${cause ? ` (${String((cause as Error).message ?? cause.code)})` : ''}`,
    );
  }
  writeFileSync(join(lockDir(dir), 'holder.json'), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
  rmSync(join(dir, 'LOCK'), { force: true }); // the pid file of fieldgate before 0.2
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await db.close().catch(() => undefined);
  };
}

export async function lockStateDir(dir: string): Promise<Unlock> {
  const unlock = await tryLockStateDir(dir);
  if (!unlock)
    throw new FgError('FG_E_STATE_LOCKED', `state_dir ${dir} is in use by fieldgate (${lockHolderText(dir)}); stop it first, or use another state_dir`);
  return unlock;
}
