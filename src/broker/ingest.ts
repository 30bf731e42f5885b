import type { Metrics } from '../telemetry/metrics.js';

/** Plain counters on the hot path; copied into prom-client when /metrics is scraped. */
export class IngestCounters {
  private readonly byQos = [0, 0, 0];
  private bytes = 0;
  private readonly synced = [0, 0, 0];
  private syncedBytes = 0;
  private readonly outByQos = [0, 0, 0];
  private outBytes = 0;
  private readonly outSynced = [0, 0, 0];
  private outSyncedBytes = 0;

  constructor(private readonly metrics: Metrics) {}

  add(qos: number, bytes: number): void {
    this.byQos[qos] = (this.byQos[qos] ?? 0) + 1;
    this.bytes += bytes;
  }

  /** A delivery to a subscriber. */
  sent(qos: number, bytes: number): void {
    this.outByQos[qos] = (this.outByQos[qos] ?? 0) + 1;
    this.outBytes += bytes;
  }

  get total(): number {
    return this.byQos[0]! + this.byQos[1]! + this.byQos[2]!;
  }

  sync(): void {
    for (let q = 0; q < 3; q++) {
      const d = this.byQos[q]! - this.synced[q]!;
      if (d > 0) this.metrics.mqttMessagesIn.inc({ qos: String(q) }, d);
      this.synced[q] = this.byQos[q]!;
    }
    if (this.bytes > this.syncedBytes) this.metrics.mqttBytesIn.inc(this.bytes - this.syncedBytes);
    this.syncedBytes = this.bytes;
    for (let q = 0; q < 3; q++) {
      const d = this.outByQos[q]! - this.outSynced[q]!;
      if (d > 0) this.metrics.mqttMessagesOut.inc({ qos: String(q) }, d);
      this.outSynced[q] = this.outByQos[q]!;
    }
    if (this.outBytes > this.outSyncedBytes) this.metrics.mqttBytesOut.inc(this.outBytes - this.outSyncedBytes);
    this.outSyncedBytes = this.outBytes;
  }
}
