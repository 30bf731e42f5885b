// Small helpers the benchmarks share: ports, sleeping, and a process's CPU and memory from /proc.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const CLK_TCK = 100;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on loopback (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** User + system CPU seconds of a process, all its threads. */
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Peak resident memory (VmHWM) in bytes. */
export function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}
