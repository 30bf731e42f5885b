/** One fieldgate per state_dir: a pid file, taken over only when its process is gone. */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { FgError } from '../core/errors.js';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A recycled pid of some other program does not hold the lock.
    return /node|fieldgate/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true;
  }
}

export function lockStateDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'LOCK');
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(file, 'utf8')) === process.pid) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (alive(pid)) {
        throw new FgError('FG_E_STATE_LOCKED', `state_dir ${dir} is in use by fieldgate (pid ${pid}); stop it first, or use another state_dir`);
      }
      unlinkSync(file); // stale: its process is gone (a crash or SIGKILL)
    }
  }
  throw new FgError('FG_E_STATE_LOCKED', `state_dir ${dir}: could not take ${file}`);
}

export function lockHolder(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'LOCK'), 'utf8').trim());
    return alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
