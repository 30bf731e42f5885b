/**
 * Watches the free space of state_dir's filesystem. Below the watermark the
 * journal stops growing (per on_full) and the embedded store stops writing,
 * before the SD card is full; above it again (plus a margin) both resume.
 */
import { statfs } from 'node:fs';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export class DiskGuard {
  private timer: NodeJS.Timeout | undefined;
  private lowNow = false;
  private readonly listeners: Array<(low: boolean) => void> = [];
  free = Number.POSITIVE_INFINITY;

  constructor(
    private readonly dir: string,
    private readonly minFree: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly everyMs = 1000,
  ) {}

  get low(): boolean {
    return this.lowNow;
  }

  onChange(l: (low: boolean) => void): void {
    this.listeners.push(l);
  }

  start(): void {
    if (this.minFree <= 0) return;
    this.check();
    this.timer = setInterval(() => this.check(), this.everyMs);
    this.timer.unref();
  }

  /** Reads the free space now (also called after a segment is created). */
  check(): void {
    statfs(this.dir, (err, s) => {
      if (err) return;
      this.free = s.bavail * s.bsize;
      this.metrics.diskFreeBytes.set(this.free);
      // Hysteresis: leave the low state only with a margin, so it does not flap at the line.
      const low = this.lowNow ? this.free < this.minFree * 1.25 : this.free < this.minFree;
      if (low === this.lowNow) return;
      this.lowNow = low;
      this.metrics.diskLow.set(low ? 1 : 0);
      if (low)
        this.log.warn(
          { dir: this.dir, free_bytes: this.free, min_free_bytes: this.minFree },
          'disk: free space below the watermark; the journal stops growing and the embedded store pauses',
        );
      else this.log.info({ dir: this.dir, free_bytes: this.free }, 'disk: free space back above the watermark; resuming');
      for (const l of this.listeners) l(low);
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
