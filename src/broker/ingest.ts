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
  /** PUBLISHes journaled by the lean path (lean-publish.ts). */
  lean = 0;
  private leanSynced = 0;

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
    return this.byQos[0] + this.byQos[1] + this.byQos[2];
  }

  sync(): void {
    syncQos(this.byQos, this.synced, this.metrics.mqttMessagesIn);
    if (this.bytes > this.syncedBytes) this.metrics.mqttBytesIn.inc(this.bytes - this.syncedBytes);
    this.syncedBytes = this.bytes;
    syncQos(this.outByQos, this.outSynced, this.metrics.mqttMessagesOut);
    if (this.outBytes > this.outSyncedBytes) this.metrics.mqttBytesOut.inc(this.outBytes - this.outSyncedBytes);
    this.outSyncedBytes = this.outBytes;
    if (this.lean > this.leanSynced) this.metrics.brokerLeanPublishes.inc(this.lean - this.leanSynced);
    this.leanSynced = this.lean;
  }
}

/** Moves what the per-QoS counts grew by since the last sync into a counter labelled by qos. */
function syncQos(counts: number[], synced: number[], counter: Metrics['mqttMessagesIn']): void {
  for (let q = 0; q < 3; q++) {
    const d = counts[q] - synced[q];
    if (d > 0) counter.inc({ qos: String(q) }, d);
    synced[q] = counts[q]!;
  }
}
