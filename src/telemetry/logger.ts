import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'auto' | 'json' | 'text';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '90', 30: '36', 40: '33', 50: '31', 60: '35' };
/** Keys every line has: the text form prints them in its own way or not at all. */
const FIXED = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** One warning or error the console shows under "last errors". */
export interface RecentEntry {
  time: string;
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** The last warnings and errors (a ring buffer), for the console. */
export class RecentLogs {
  private readonly ring: RecentEntry[] = [];
  total = 0;
  constructor(private readonly size = 100) {}
  push(e: RecentEntry): void {
    this.total++;
    this.ring.push(e);
    if (this.ring.length > this.size) this.ring.shift();
  }
  /** Newest first. */
  list(): RecentEntry[] {
    return this.ring.slice().reverse();
  }
}

/**
 * A pino line as a person reads it: `12:03:04.567 WARN  modbus: read failed  device=cnc4 err="timeout"`
 * (local time; the component is the message's prefix, as every message here begins with one).
 */
export function textLine(json: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const d = new Date(typeof o.time === 'string' || typeof o.time === 'number' ? o.time : Date.now());
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  const n = typeof o.level === 'number' ? o.level : 30;
  const name = (LEVELS[n] ?? String(n)).padEnd(5);
  const level = color ? `\x1b[${COLORS[n] ?? '0'}m${name}\x1b[0m` : name;
  const fields = Object.entries(o)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(' ');
  return `${time} ${level} ${msgOf(o.msg)}${fields ? `  ${color ? `\x1b[2m${fields}\x1b[0m` : fields}` : ''}\n`;
}

function msgOf(m: unknown): string {
  return typeof m === 'string' ? m : m === undefined ? '' : JSON.stringify(m);
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v.length > 300 ? `${v.slice(0, 300)}…` : v);
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

/** Whether log lines are written for people: `text`, or `auto` on a terminal. */
export function textFormat(format: LogFormat): boolean {
  return format === 'text' || (format === 'auto' && process.stdout.isTTY === true);
}

/**
 * JSON lines on stdout (journald and Docker collect them as they are), or short readable lines
 * when stdout is a terminal (`auto`) or `text` is asked for. Warnings and errors also go to
 * `recent` when given.
 */
export function createLogger(level: LogLevel, format: LogFormat = 'json', recent?: RecentLogs): Logger {
  const opts = { level, base: { service: 'fieldgate' }, timestamp: pino.stdTimeFunctions.isoTime };
  const text = textFormat(format);
  if (!text && !recent) return pino(opts);
  const out = pino.destination({ fd: 1, sync: true });
  const color = text && process.stdout.isTTY === true && !process.env.NO_COLOR;
  return pino(opts, {
    write(line: string): void {
      if (recent && /"level":(4|5|6)0,/.test(line)) {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          const fields: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(o)) if (!FIXED.has(k)) fields[k] = v;
          recent.push({ time: String(o.time), level: LEVELS[Number(o.level)]?.toLowerCase() ?? 'warn', msg: msgOf(o.msg), fields });
        } catch {
          // not JSON: nothing to keep
        }
      }
      out.write(text ? textLine(line, color) : line);
    },
  });
}

/**
 * Logs at most once per interval per key; counts what it held back so the
 * next line can say how many. For hot paths that must never log per value.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when written; false when counted in the next one's `suppressed_since_last`. */
  warn(key: string, fields: Record<string, unknown>, msg: string): boolean {
    const t = this.now();
    const s = this.last.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.suppressed++;
      return false;
    }
    this.log.warn({ ...fields, suppressed_since_last: s?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: t, suppressed: 0 });
    return true;
  }
}
