/**
 * Moves one sink along the journal: committed chunk → worker (decode, encode)
 * → sink insert → cursor. Chunks are acknowledged in order; the next chunk is
 * encoded while the current one is being inserted.
 */
import type { Piscina } from 'piscina';
import { errorMessage } from '../core/errors.js';
import type { LoopProbe } from '../core/heartbeat.js';
import { Pause } from '../core/pause.js';
import { retryWrite, supervise } from '../core/supervise.js';
import { SinkStopped, type ChunkSink } from '../core/ports.js';
import type { MqttConfig } from '../encode/config.js';
import type { EncodeResult, EncodeTask } from '../encode/worker.js';
import type { Journal } from '../journal/journal.js';
import type { Chunk } from '../journal/segment.js';
import { RateLimitedLog, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

const PREFETCH = 2;
/** Tries to read and encode a chunk before its records go to the dead letters instead. */
const ENCODE_ATTEMPTS = 5;

export interface RunnerOptions {
  journal: Journal;
  pool: Piscina;
  sink: ChunkSink;
  metrics: Metrics;
  log: Logger;
  /** Folder where workers write RowBinary for the embedded store; undefined for servers. */
  spoolDir?: string;
  /** True while inserts must wait (the embedded store on a disk below its watermark). */
  paused?: () => boolean;
  /** The routes the workers decode with, and their version (a SIGHUP that changes them bumps it). */
  routes: () => { cfg: MqttConfig; version: number };
  /** Longest a worker may take over one chunk (a pathological payload) before it is stopped. */
  encodeTimeoutMs: number;
  /** No progress for this long, with chunks waiting, makes the sink loop stalled (see /readyz). */
  stallAfterMs: number;
}

type Encoded = { ok: EncodeResult } | { dropped: true } | { failed: string; data?: Buffer };

export class SinkRunner {
  private readonly queue: Chunk[] = [];
  private readonly pending: Array<{ chunk: Chunk; result: Promise<Encoded> }> = [];
  private signal: (() => void) | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly sampleLog: RateLimitedLog;
  inFlight = false;
  private readonly pause = new Pause();
  private lastProgress = Date.now();
  private what: string | undefined;
  private listening = false;

  /** The loop's heartbeat: a chunk acknowledged, or a request to the store made (also while it fails). */
  readonly probe: LoopProbe;

  /** Chunks wait for this sink. */
  get hasWork(): boolean {
    return this.queue.length > 0 || this.pending.length > 0 || this.inFlight || this.holding;
  }

  /** A chunk is in hand while the loop waits (paused, or retrying its cursor). */
  private holding = false;

  constructor(private readonly opts: RunnerOptions) {
    this.sampleLog = new RateLimitedLog(opts.log);
    const self = this;
    this.probe = {
      loop: `sink:${opts.sink.name}`,
      stallAfterMs: opts.stallAfterMs,
      hasWork: () => this.hasWork,
      detail: () => this.what,
      get lastBeat(): number {
        return Math.max(self.lastProgress, opts.sink.lastActivityAt);
      },
    };
  }

  start(): void {
    this.running = this.supervise();
  }

  /** The loop never ends while the sink is configured: an unexpected failure restarts it after a backoff. */
  private async supervise(): Promise<void> {
    const { journal, sink } = this.opts;
    if (!this.listening) {
      this.listening = true;
      journal.onChunk((c) => {
        this.queue.push(c);
        this.signal?.();
      });
    }
    await supervise({
      stopping: () => this.stopping,
      isStop: (err) => err instanceof SinkStopped,
      sleep: (ms) => this.pause.sleep(ms),
      run: () => {
        // (Re)start from the cursor: whatever was in hand when the loop failed is read again.
        this.pending.length = 0;
        this.queue.length = 0;
        this.queue.push(...journal.chunksAfter(journal.cursor(sink.name).state.position));
        return this.loop();
      },
      failed: (err, delay) => {
        this.what = `restarting after: ${errorMessage(err)}`;
        this.opts.log.error({ sink: sink.name, err: errorMessage(err), retry_ms: delay }, 'pipeline: sink loop failed; it starts again from its cursor');
      },
    });
  }

  private async loop(): Promise<void> {
    const { sink } = this.opts;
    this.what = 'connecting';
    await sink.connect();
    this.what = undefined;
    for (;;) {
      if (this.stopping) return;
      this.fill();
      const next = this.pending.shift();
      if (!next) {
        this.lastProgress = Date.now(); // idle with nothing to do is not a stall
        await new Promise<void>((res) => (this.signal = res));
        this.signal = undefined;
        continue;
      }
      const r = await next.result;
      this.fill();
      if ('dropped' in r) continue; // dropped by the journal (on_full: drop_oldest)
      if ('ok' in r) this.account(r.ok);
      if (this.opts.paused?.()) {
        this.what = 'paused: the disk is below journal.min_free_bytes';
        this.holding = true;
        while (this.opts.paused?.() && !this.stopping) await this.pause.sleep(250);
        this.holding = false;
        this.what = undefined;
      }
      if (this.stopping) return;
      this.inFlight = true;
      try {
        if ('ok' in r) {
          const e = r.ok;
          await sink.insertChunk({
            chunkId: next.chunk.id,
            tables: e.tables,
            recordStarts: e.recordStarts,
            spooled: e.spooled,
            firstReceived: e.firstReceived,
            lastReceived: e.lastReceived,
            letters: e.letters,
          });
        } else if (r.data) {
          await sink.deadLetterChunk(next.chunk.id, r.data, r.failed);
        } else {
          // The bytes cannot be read back (an I/O error of the card): nothing to send or keep.
          this.opts.metrics.journalDroppedRecords.inc({ reason: 'unreadable' }, next.chunk.records);
          this.opts.log.error(
            { sink: sink.name, chunk: next.chunk.id, records: next.chunk.records, err: r.failed },
            'pipeline: a chunk cannot be read from the journal; its records are lost (counted in fieldgate_journal_dropped_records_total{reason="unreadable"})',
          );
        }
        await this.acknowledge(next.chunk);
        this.lastProgress = Date.now();
      } finally {
        this.inFlight = false;
      }
    }
  }

  /** Persists the cursor; a failed write (a full card, EIO) is retried with backoff, never ends the loop. */
  private async acknowledge(c: Chunk): Promise<void> {
    const sink = this.opts.sink.name;
    const failed = await retryWrite({
      write: () => this.opts.journal.acknowledge(sink, c),
      stopping: () => this.stopping,
      stopped: () => new SinkStopped(),
      sleep: (ms) => this.pause.sleep(ms),
      failed: (err, delay, attempt) => {
        this.opts.metrics.journalCursorErrors.inc({ sink });
        this.what = `cursor write failing: ${errorMessage(err)}`;
        if (attempt === 1)
          this.opts.log.error(
            { sink, chunk: c.id, err: errorMessage(err), retry_ms: delay },
            'journal: cursor write failed; retrying with backoff (the chunk is stored; only its acknowledgement waits)',
          );
      },
    });
    if (failed > 0) this.opts.log.info({ sink, chunk: c.id }, 'journal: cursor written again');
    this.what = undefined;
  }

  /** Starts encoding queued chunks, up to PREFETCH ahead. */
  private fill(): void {
    while (this.pending.length < PREFETCH && this.queue.length > 0 && !this.stopping) {
      const chunk = this.queue.shift()!;
      if (chunk.next <= this.opts.journal.cursor(this.opts.sink.name).state.position) continue;
      this.pending.push({ chunk, result: this.encode(chunk) });
    }
  }

  private read(chunk: Chunk): Promise<Buffer | undefined> {
    return new Promise<Buffer | undefined>((res, rej) => this.opts.journal.readChunk(chunk, (e, d) => (e ? rej(e) : res(d))));
  }

  private async encode(chunk: Chunk): Promise<Encoded> {
    let last = '';
    let readable = false;
    let tries = 0;
    for (let attempt = 0; attempt < ENCODE_ATTEMPTS; attempt++) {
      tries = attempt + 1;
      if (attempt > 0) {
        await this.pause.sleep(Math.min(30_000, 200 * 2 ** attempt));
        if (this.stopping) throw new SinkStopped();
      }
      let data: Buffer | undefined;
      try {
        data = await this.read(chunk);
      } catch (err) {
        last = `reading it failed: ${errorMessage(err)}`;
        this.opts.log.error({ chunk: chunk.id, err: errorMessage(err), attempt }, 'pipeline: reading a chunk failed; retrying');
        continue;
      }
      if (!data) return { dropped: true };
      readable = true;
      const t0 = process.hrtime.bigint();
      try {
        // The bytes move to the worker (no copy kept: a chunk given up on is read again for its dead letters).
        const routes = this.opts.routes();
        const task: EncodeTask = {
          chunk: data,
          schemas: this.opts.sink.tableSchemas,
          mqtt: routes.cfg,
          mqttVersion: routes.version,
          ...this.opts.sink.encodeOptions,
          ...(this.opts.spoolDir ? { spool: `${this.opts.spoolDir}/c${chunk.id}-${process.pid}` } : {}),
        };
        // Our own timer, cleared at once: AbortSignal.timeout() kept each finished task (and its
        // rows) reachable until it fired, which cost ~60 MB of RSS at 50,000 msg/s.
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(new Error(`encoding took longer than ${this.opts.encodeTimeoutMs} ms`)), this.opts.encodeTimeoutMs);
        let r: EncodeResult;
        try {
          r = (await this.opts.pool.run(task, { transferList: [data.buffer as ArrayBuffer], signal: ac.signal })) as EncodeResult;
        } finally {
          clearTimeout(timer);
        }
        this.opts.metrics.encodeSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        return { ok: r };
      } catch (err) {
        // A worker crash, or a chunk over its time: the chunk is still in the journal; try again, then give up on it.
        const timedOut = err instanceof Error && (err.name === 'AbortError' || /abort|took longer/i.test(err.message));
        last = timedOut ? `encoding took longer than ${this.opts.encodeTimeoutMs} ms` : `encoding failed: ${errorMessage(err)}`;
        this.opts.log.error({ chunk: chunk.id, err: last, attempt }, 'pipeline: encoding a chunk failed; retrying');
        if (timedOut) break;
      }
    }
    const failed = `${last} (${tries} attempt${tries > 1 ? 's' : ''})`;
    if (!readable) return { failed };
    const data = await this.read(chunk).catch(() => undefined);
    return data ? { failed, data } : { failed };
  }

  private account(r: EncodeResult): void {
    const m = this.opts.metrics;
    for (const t of r.tables) m.pointsDecoded.inc({ table: t.table }, t.rows);
    for (const [reason, n] of Object.entries(r.rejects)) {
      if (!n) continue;
      m.recordsRejected.inc({ reason }, n);
      this.sampleLog.warn(
        `reject:${reason}`,
        { reason, count: n, sample: r.samples[reason as keyof typeof r.samples] },
        'ingest: values rejected (counted in fieldgate_records_rejected_total)',
      );
    }
    for (const [reason, n] of Object.entries(r.tsReplaced)) if (n) m.timestampsReplaced.inc({ reason }, n);
  }

  /** Stops after the chunk in flight, waiting at most `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.signal?.();
    this.pause.wake();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((res) => {
      timer = setTimeout(() => {
        this.opts.sink.stop();
        res();
      }, timeoutMs);
    });
    // An insert that is going through may finish; one waiting out a retry is abandoned at once.
    if (!this.inFlight || this.opts.sink.state !== 'connected') this.opts.sink.stop();
    await Promise.race([this.running, timeout]);
    clearTimeout(timer);
    this.opts.sink.stop();
    await Promise.race([this.running, new Promise((res) => setTimeout(res, 1000))]);
    await Promise.allSettled(this.pending.map((p) => p.result));
  }
}
