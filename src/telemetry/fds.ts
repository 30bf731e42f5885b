/**
 * File descriptors: libuv answers EMFILE on accept() by accepting and closing the connection at
 * once (its reserve-descriptor trick), so the process is never told and new clients are dropped in
 * silence. This looks at /proc/self/fd every few seconds instead: the share in use is a gauge, and
 * near the limit it is logged (once a minute) and counted, so the cause is in the log.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { RateLimitedLog, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';

function fdLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export class FdWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly rare: RateLimitedLog;
  open = 0;
  max = 0;

  constructor(
    private readonly metrics: Metrics,
    log: Logger,
    private readonly everyMs = 2000,
  ) {
    this.rare = new RateLimitedLog(log);
  }

  start(): void {
    this.max = fdLimit();
    if (!this.max) return; // not Linux
    this.timer = setInterval(() => this.check(), this.everyMs);
    this.timer.unref();
  }

  /**
   * Synchronous on purpose: an asynchronous readdir waits for a libuv pool thread, and those can
   * all be held by journal fsyncs on a slow card or by chDB queries, so the look could come only
   * after the connections holding the descriptors had gone, and nothing would be said. Listing
   * /proc/self/fd takes microseconds for the few hundred a gateway holds.
   */
  private check(): void {
    let names: string[] | undefined;
    try {
      names = readdirSync('/proc/self/fd');
    } catch (err) {
      // Reading the folder takes a descriptor itself: with none left it fails, and that is the
      // answer (seen in CI: every look failed while the limit held, and nothing was logged).
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EMFILE' && code !== 'ENFILE') return;
    }
    this.open = names ? names.length : this.max;
    const ratio = this.open / this.max;
    this.metrics.fdUsage.set(ratio);
    if (ratio >= 0.95) {
      this.metrics.fdExhausted.inc();
      this.rare.warn(
        'fds',
        { open: this.open, max: this.max },
        'out of file descriptors (or nearly): new connections are dropped; raise LimitNOFILE or find what holds them (fieldgate_fd_usage_ratio)',
      );
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
