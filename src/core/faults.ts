/**
 * Fault injection at the journal's and the sink's boundaries, for the fault tests and
 * scripts/soak.sh. Off unless the environment variable FIELDGATE_FAULTS names a JSON file; the
 * file is re-read when it changes, so a test turns faults on and off while the gateway runs:
 *
 *   { "journal_write": { "action": "enospc", "probability": 1 },
 *     "cursor_write":  { "action": "eio", "count": 3 },
 *     "sink_request":  { "action": "reset", "probability": 0.2 } }
 *
 * Actions: enospc | eio (the call fails with that code), short (a write writes half of what it
 * was given and says so), stall (waits `ms` first), reset (a store request fails as if the
 * connection dropped). Checked once per batch, commit, request or poll: never per value. Points:
 * journal_write, cursor_write, sink_request, encode (in the worker), modbus_poll, opcua_session.
 */
import { readFileSync, statSync } from 'node:fs';

export type FaultPoint = 'journal_write' | 'cursor_write' | 'sink_request' | 'encode' | 'modbus_poll' | 'opcua_session';
export type FaultAction = 'enospc' | 'eio' | 'short' | 'stall' | 'reset';

export interface Fault {
  action: FaultAction;
  /** Chance per call (default 1). */
  probability?: number;
  /** Fire at most this many times (default: without end). */
  count?: number;
  /** For stall. */
  ms?: number;
}

let plan: Partial<Record<FaultPoint, Fault>> = {};
/**
 * The plan file as last read: its path, mtime and size. File times tick coarsely (a few ms), so two
 * plans written one after the other can share an mtime; the path and the size tell them apart (the
 * mtime alone once kept a test's earlier plan in place of its own).
 */
let version = '';
let checkedAt = 0;
const fired: Partial<Record<FaultPoint, number>> = {};

function refresh(file: string): void {
  const now = Date.now();
  if (now - checkedAt < 100) return;
  checkedAt = now;
  try {
    const st = statSync(file);
    const v = `${file}\0${st.mtimeMs}\0${st.size}`;
    if (v === version) return;
    version = v;
    plan = JSON.parse(readFileSync(file, 'utf8')) as typeof plan;
    for (const k of Object.keys(fired)) delete fired[k as FaultPoint];
  } catch {
    plan = {};
    version = '';
  }
}

/** The fault to inject at this call, if any. */
export function injectedFault(point: FaultPoint): Fault | undefined {
  const file = process.env.FIELDGATE_FAULTS;
  if (!file) return undefined;
  refresh(file);
  const f = plan[point];
  if (!f) return undefined;
  if (f.count !== undefined && (fired[point] ?? 0) >= f.count) return undefined;
  if (Math.random() >= (f.probability ?? 1)) return undefined;
  fired[point] = (fired[point] ?? 0) + 1;
  return f;
}

/** An error like the system's own for an injected enospc/eio/reset. */
export function faultError(f: Fault, what: string): NodeJS.ErrnoException {
  const code = f.action === 'enospc' ? 'ENOSPC' : f.action === 'reset' ? 'ECONNRESET' : 'EIO';
  const e = new Error(`${code}: injected fault, ${what}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/** True when fault injection is on (a log line at start says so). */
export function faultsEnabled(): boolean {
  return process.env.FIELDGATE_FAULTS !== undefined;
}

/**
 * An injected stall (a loop stuck on a call that never returns, for the heartbeat tests) as a
 * promise to await, or undefined: no promise is made when no fault is set.
 */
export function injectedStall(point: FaultPoint): Promise<void> | undefined {
  const f = injectedFault(point);
  if (!f) return undefined;
  if (f.action === 'stall') return new Promise((res) => setTimeout(res, f.ms ?? 1000));
  return Promise.reject(faultError(f, point));
}
