import { Backoff } from './backoff.js';

export interface Supervision {
  /** True once the owner is stopping: the loop ends. */
  stopping(): boolean;
  /** One run of the loop (from its cursor); returning ends the supervision. */
  run(): Promise<void>;
  /** The error that means "stopped on purpose" (ends the supervision quietly). */
  isStop(err: unknown): boolean;
  /** An unexpected failure: report it; the loop runs again after `retryMs`. */
  failed(err: unknown, retryMs: number): void;
  sleep(ms: number): Promise<void>;
}

/**
 * A loop that never ends while it is configured: an unexpected failure restarts it after a capped
 * backoff (0.5 s doubling to 30 s), for the sink runner and the partners' outboxes alike.
 */
export async function supervise(s: Supervision): Promise<void> {
  const backoff = new Backoff(500, 30_000);
  while (!s.stopping()) {
    try {
      await s.run();
      return;
    } catch (err) {
      if (s.isStop(err) || s.stopping()) return;
      const delay = backoff.next();
      s.failed(err, delay);
      await s.sleep(delay);
    }
  }
}

/**
 * Retries one write (a cursor's) with backoff (0.2 s doubling to 10 s) until it works: a full card
 * or EIO never ends the loop that called it. `failed` hears each failure (`attempt` from 1); once
 * the owner is stopping, `stopped()` is thrown. Returns how many attempts failed.
 */
export async function retryWrite(o: {
  write(): Promise<void>;
  stopping(): boolean;
  stopped(): Error;
  failed(err: unknown, retryMs: number, attempt: number): void;
  sleep(ms: number): Promise<void>;
}): Promise<number> {
  const backoff = new Backoff(200, 10_000);
  for (;;) {
    try {
      await o.write();
      return backoff.attempts;
    } catch (err) {
      if (o.stopping()) throw o.stopped();
      const delay = backoff.next();
      o.failed(err, delay, backoff.attempts);
      await o.sleep(delay);
    }
  }
}
