/**
 * What left and what came in, per partner and hour: `state_dir/audit/<name>.jsonl`, one line per
 * (hour, direction, device/tag or topic) with the count and the first and last value times.
 * Written when the hour turns and at shutdown; past `max_bytes` the file is rotated once (.1).
 */
import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialQueue } from '../core/serial.js';

interface Tally {
  count: number;
  first: number;
  last: number;
}

const HOUR = 3_600_000;

export class AuditLog {
  private hour = -1;
  private sent = new Map<string, Tally>();
  private received = new Map<string, Tally>();
  private readonly writing = new SerialQueue();
  readonly file: string;

  constructor(
    private readonly dir: string,
    private readonly partner: string,
    private readonly maxBytes: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.file = join(dir, `${partner}.jsonl`);
  }

  /** Writes the last hour once it is over (called every minute, and with each event). */
  tick(): void {
    this.turn();
  }

  private turn(): void {
    const h = Math.floor(this.now() / HOUR) * HOUR;
    if (this.hour !== h) {
      if (this.hour >= 0) void this.flush(); // it catches its own errors (onError)
      this.hour = h;
    }
  }

  private static add(m: Map<string, Tally>, key: string, ts: number, n = 1): void {
    const t = m.get(key);
    if (!t) m.set(key, { count: n, first: ts, last: ts });
    else {
      t.count += n;
      if (ts < t.first) t.first = ts;
      if (ts > t.last) t.last = ts;
    }
  }

  /** A value (or interval) the partner acknowledged. */
  sentValue(device: string, tag: string, ts: number, n = 1): void {
    this.turn();
    AuditLog.add(this.sent, `${device}\u0000${tag}`, ts, n);
  }

  receivedMessage(topic: string, at: number): void {
    this.turn();
    AuditLog.add(this.received, topic, at);
  }

  /** Writes what the current hour holds so far and starts it afresh. */
  flush(): Promise<void> {
    const hour = new Date(Math.max(0, this.hour)).toISOString();
    const iso = (t: number) => new Date(t).toISOString();
    const lines: string[] = [];
    for (const [k, t] of this.sent) {
      const [device, tag] = k.split('\u0000');
      lines.push(JSON.stringify({ hour, partner: this.partner, direction: 'sent', device, tag, count: t.count, first: iso(t.first), last: iso(t.last) }));
    }
    for (const [topic, t] of this.received)
      lines.push(JSON.stringify({ hour, partner: this.partner, direction: 'received', topic, count: t.count, first: iso(t.first), last: iso(t.last) }));
    this.sent = new Map();
    this.received = new Map();
    if (!lines.length) return this.writing.idle();
    const text = lines.join('\n') + '\n';
    return this.writing.run(async () => {
      try {
        await mkdir(this.dir, { recursive: true });
        const size = await stat(this.file).then(
          (s) => s.size,
          () => 0,
        );
        if (size > 0 && size + text.length > this.maxBytes) await rename(this.file, `${this.file}.1`);
        await appendFile(this.file, text);
      } catch (err) {
        this.onError(err);
      }
    });
  }
}
