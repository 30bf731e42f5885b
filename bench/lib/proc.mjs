// Small helpers the benchmarks share: ports, sleeping, and a process's CPU and memory from /proc.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const CLK_TCK = 100;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The lowest port the kernel gives an outgoing connection (/proc/sys/net/ipv4/ip_local_port_range). */
const EPHEMERAL_LOW = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
})();
const PORT_LOW = Math.min(10_000, EPHEMERAL_LOW - 1000);
const handedOut = new Set();

/** Whether a listener can take `port` on loopback now. */
function canListen(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on loopback, below the kernel's range for outgoing connections: a port from that
 * range (what `listen(0)` gives) can be taken as the source port of any connection on the machine
 * before the server it is meant for binds it (seen: a test clickhouse-server failed with "Address
 * already in use"). Never the same port twice in one process.
 */
export async function freePort() {
  for (let i = 0; i < 100; i++) {
    const p = PORT_LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - PORT_LOW));
    if (handedOut.has(p)) continue;
    handedOut.add(p);
    if (await canListen(p)) return p;
  }
  throw new Error(`no free port in ${PORT_LOW}-${EPHEMERAL_LOW - 1} after 100 tries`);
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
