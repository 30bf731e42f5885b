/**
 * Moves one sink along the journal: committed chunk → worker (decode, encode)
 * → sink insert → cursor. Chunks are acknowledged in order; the next chunk is
 * encoded while the current one is being inserted.
 */
import type { Piscina } from 'piscina';
import { errorMessage } from '../core/errors.js';
import type { MqttConfig } from '../encode/config.js';
import type { EncodeResult, EncodeTask } from '../encode/worker.js';
import type { Journal } from '../journal/journal.js';
import type { Chunk } from '../journal/segment.js';
import { Stopped, type ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { RateLimitedLog, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

const PREFETCH = 2;

export interface RunnerOptions {
  journal: Journal;
  pool: Piscina;
  sink: ClickHouseSink;
  metrics: Metrics;
  log: Logger;
  /** Folder where workers write RowBinary for the embedded store; undefined for servers. */
  spoolDir?: string;
  /** True while inserts must wait (the embedded store on a disk below its watermark). */
  paused?: () => boolean;
  /** The routes the workers decode with. */
  mqtt: MqttConfig;
}

export class SinkRunner {
  private readonly queue: Chunk[] = [];
  private readonly pending: Array<{ chunk: Chunk; result: Promise<EncodeResult | undefined> }> = [];
  private signal: (() => void) | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly sampleLog: RateLimitedLog;
  inFlight = false;
  private mqtt: { cfg: MqttConfig; version: number };

  /** Chunks wait for this sink. */
  get hasWork(): boolean {
    return this.queue.length > 0 || this.pending.length > 0 || this.inFlight;
  }

  constructor(private readonly o: RunnerOptions) {
    this.sampleLog = new RateLimitedLog(o.log);
    this.mqtt = { cfg: o.mqtt, version: 0 };
  }

  /** New routes (SIGHUP) for every chunk encoded from now on. */
  setRoutes(cfg: MqttConfig): void {
    this.mqtt = { cfg, version: this.mqtt.version + 1 };
  }

  start(): void {
    const { journal, sink } = this.o;
    const pos = journal.cursor(sink.name).state.position;
    this.queue.push(...journal.chunksAfter(pos));
    journal.onChunk((c) => {
      this.queue.push(c);
      this.signal?.();
    });
    this.running = this.loop().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.o.log.error({ sink: sink.name, err: errorMessage(err) }, 'pipeline: sink loop ended with an error');
    });
  }

  private async loop(): Promise<void> {
    const { journal, sink } = this.o;
    await sink.connect();
    for (;;) {
      if (this.stopping) return;
      this.fill();
      const next = this.pending.shift();
      if (!next) {
        await new Promise<void>((res) => (this.signal = res));
        this.signal = undefined;
        continue;
      }
      const r = await next.result;
      this.fill();
      if (!r) continue; // dropped by the journal (on_full: drop_oldest)
      this.account(r);
      while (this.o.paused?.() && !this.stopping) await new Promise((res) => setTimeout(res, 250));
      if (this.stopping) return;
      this.inFlight = true;
      try {
        await sink.insertChunk({ chunkId: next.chunk.id, tables: r.tables, recordStarts: r.recordStarts, spooled: r.spooled, firstReceived: r.firstReceived, lastReceived: r.lastReceived, letters: r.letters });
        await journal.acknowledge(sink.name, next.chunk);
      } finally {
        this.inFlight = false;
      }
    }
  }

  /** Starts encoding queued chunks, up to PREFETCH ahead. */
  private fill(): void {
    while (this.pending.length < PREFETCH && this.queue.length > 0 && !this.stopping) {
      const chunk = this.queue.shift()!;
      if (chunk.next <= this.o.journal.cursor(this.o.sink.name).state.position) continue;
      this.pending.push({ chunk, result: this.encode(chunk) });
    }
  }

  private async encode(chunk: Chunk): Promise<EncodeResult | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await new Promise<Buffer | undefined>((res, rej) => this.o.journal.readChunk(chunk, (e, d) => (e ? rej(e) : res(d))));
        if (!data) return undefined;
        const t0 = process.hrtime.bigint();
        const task: EncodeTask = { chunk: data, schemas: this.o.sink.tableSchemas, mqtt: this.mqtt.cfg, mqttVersion: this.mqtt.version, ...(this.o.spoolDir ? { spool: `${this.o.spoolDir}/c${chunk.id}-${process.pid}` } : {}) };
        const r = (await this.o.pool.run(task, { transferList: [data.buffer as ArrayBuffer] })) as EncodeResult;
        this.o.metrics.encodeSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        return r;
      } catch (err) {
        // A worker crash or an I/O error: the chunk is still in the journal; try again.
        this.o.log.error({ chunk: chunk.id, err: errorMessage(err), attempt }, 'pipeline: encoding a chunk failed; retrying');
        await new Promise((res) => setTimeout(res, Math.min(30_000, 200 * 2 ** attempt)));
        if (this.stopping) throw new Stopped();
      }
    }
  }

  private account(r: EncodeResult): void {
    const m = this.o.metrics;
    for (const t of r.tables) m.pointsDecoded.inc({ table: t.table }, t.rows);
    for (const [reason, n] of Object.entries(r.rejects)) {
      if (!n) continue;
      m.recordsRejected.inc({ reason }, n);
      this.sampleLog.warn(`reject:${reason}`, { reason, count: n, sample: r.samples[reason as keyof typeof r.samples] }, 'ingest: values rejected (counted in fieldgate_records_rejected_total)');
    }
    for (const [reason, n] of Object.entries(r.tsReplaced)) if (n) m.timestampsReplaced.inc({ reason }, n);
  }

  /** Stops after the chunk in flight, waiting at most `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.signal?.();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((res) => {
      timer = setTimeout(() => {
        this.o.sink.stop();
        res();
      }, timeoutMs);
    });
    // An insert that is going through may finish; one waiting out a retry is abandoned at once.
    if (!this.inFlight || this.o.sink.state !== 'connected') this.o.sink.stop();
    await Promise.race([this.running, timeout]);
    clearTimeout(timer);
    this.o.sink.stop();
    await Promise.race([this.running, new Promise((res) => setTimeout(res, 1000))]);
    await Promise.allSettled(this.pending.map((p) => p.result));
  }
}
