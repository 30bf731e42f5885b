import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** JSON lines on stdout; journald and Docker collect them as they are. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'fieldgate' }, timestamp: pino.stdTimeFunctions.isoTime });
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

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const s = this.last.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    this.log.warn({ ...fields, suppressed_since_last: s?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: t, suppressed: 0 });
  }
}
