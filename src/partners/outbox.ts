/**
 * One partner: a journal consumer with its own cursor (a durable outbox) and, for a broker, the
 * receive side. Per committed chunk: the worker selects what the send entries name, intervals are
 * folded (window.ts), messages are built (format.ts) and sent, paced by max_rate, until the
 * partner acknowledged every one; only then does the cursor move (with the open intervals).
 * A link that fails sends the chunk again whole, with the same ids. The loop never ends while the
 * partner is configured: it retries with backoff and its heartbeat shows in /readyz.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Backoff } from '../core/backoff.js';
import { errorMessage } from '../core/errors.js';
import type { LoopProbe } from '../core/heartbeat.js';
import { Pause } from '../core/pause.js';
import { retryWrite, supervise } from '../core/supervise.js';
import type { ShareResult, ShareSpec } from '../core/ports.js';
import { RateLimitedLog, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { AuditLog } from './audit.js';
import type { PartnerConfig, SendEntry } from './config.js';
import { formatItems, type Item, type OutMessage } from './format.js';
import { LinkError, type Target } from './target.js';
import { MqttTarget } from './target-mqtt.js';
import { WebhookTarget } from './target-webhook.js';
import { Downsampler, type WindowState } from './window.js';

/** A committed chunk, as the journal describes it. */
export interface ChunkRef {
  id: number;
  start: number;
  next: number;
  records: number;
}

/** What a partner needs of the journal. */
export interface OutboxJournal {
  chunksAfter(position: number): ChunkRef[];
  cursor(name: string): { state: { position: number; extra?: unknown } };
  acknowledge(name: string, c: ChunkRef, extra?: unknown): Promise<void>;
  readChunk(c: ChunkRef, cb: (err: Error | null, data?: Buffer) => void): void;
  onChunk(listener: (c: ChunkRef) => void): () => void;
  backlogRecords(name: string): number;
  readonly droppedFor: ReadonlyMap<string, number>;
  appendMqtt(receivedMs: number, qos: number, topic: string, clientId: string, body: Buffer): void;
  whenCommitted(cb: (err?: Error | null) => void): void;
  readonly blocked: boolean;
  whenUnblocked(cb: () => void): void;
}

export interface OutboxOptions {
  cfg: PartnerConfig;
  gateway: string;
  /** `<gateway>:<journal id>`: prefixes every message id. */
  idPrefix: string;
  journal: OutboxJournal;
  /** Runs the worker over a chunk's bytes (they are moved to the worker). */
  decode(data: Buffer, spec: ShareSpec): Promise<ShareResult>;
  metrics: Metrics;
  log: Logger;
  stateDir: string;
}

export class Stopped extends Error {}

/** Chunks up to this size are read and selected ahead of the one being sent. */
const PREFETCH_MAX_BYTES = 2 * 1024 * 1024;

/** The cursor name of a partner. */
export function cursorName(partner: string): string {
  return `partner.${partner}`;
}

/** The topic prefix under which a partner's messages are journaled (local clients may not publish there). */
export function receivePrefix(partner: string): string {
  return `$partner/${partner}/`;
}

/** A receive template as an MQTT subscription filter: {x} → +, {x+} → #. */
export function templateFilter(template: string): string {
  return template
    .split('/')
    .map((l) => (/^\{[A-Za-z_][A-Za-z0-9_]*\+\}$/.test(l) ? '#' : /^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(l) ? '+' : l))
    .join('/');
}

/** What identifies an entry's intervals: a changed entry starts afresh. */
function entryKey(e: SendEntry): string {
  return JSON.stringify([e.select, e.every, e.aggregate]);
}

export type PartnerState = 'starting' | 'connected' | 'buffering' | 'failing';

export interface PartnerStatus {
  name: string;
  target: string;
  state: PartnerState;
  lastError?: string;
  backlogRecords: number;
  backlogSeconds: number;
}

export class PartnerOutbox {
  readonly name: string;
  readonly cursor: string;
  private readonly target: Target;
  private readonly queue: ChunkRef[] = [];
  private signal: (() => void) | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly pause = new Pause();
  private readonly audit: AuditLog;
  private auditTimer: NodeJS.Timeout | undefined;
  private samplers: Array<Downsampler | undefined> = [];
  private readonly spec: ShareSpec;
  private pacer: { tokens: number; last: number };
  private state: PartnerState = 'starting';
  private lastError: string | undefined;
  private lastProgress = Date.now();
  private lastAttempt = 0;
  private inHand: { firstReceived: number } | undefined;
  private unlisten: (() => void) | undefined;
  private droppedSeen = 0;
  private failingSince = 0;
  readonly probe: LoopProbe;
  private readonly limitedLog: RateLimitedLog;

  constructor(private readonly opts: OutboxOptions) {
    this.limitedLog = new RateLimitedLog(opts.log);
    const { cfg } = opts;
    this.name = cfg.name;
    this.cursor = cursorName(cfg.name);
    this.spec = { entries: cfg.send.map((e) => e.select.map((s) => ({ device: s.device, tag: s.tag }))) };
    this.pacer = { tokens: cfg.max_rate, last: Date.now() };
    this.audit = new AuditLog(join(opts.stateDir, 'audit'), cfg.name, cfg.audit_max_bytes, (err) =>
      opts.log.warn({ partner: cfg.name, err: errorMessage(err) }, 'partner: writing the audit file failed'),
    );
    this.target = cfg.broker
      ? new MqttTarget({
          cfg,
          gateway: opts.gateway,
          subscriptions: cfg.receive.map((r) => ({ filter: templateFilter(r.topic), qos: r.qos as 0 | 1 })),
          onReceive: (topic, payload, qos, done) => this.received(topic, payload, qos, done),
          onDown: (why) => {
            opts.metrics.partnerConnected.set({ partner: cfg.name }, 0);
            opts.metrics.partnerErrors.inc({ partner: cfg.name, reason: 'closed' });
            opts.log.warn({ partner: cfg.name, why }, 'partner: link lost; unsent values wait in the journal');
          },
          onConnectFailed: (e) => opts.metrics.partnerErrors.inc({ partner: cfg.name, reason: e.reason }),
          sparkplug: cfg.send.some((e) => e.format === 'sparkplug'),
          warn: (obj, msg) => opts.log.warn({ partner: cfg.name, ...obj }, msg),
        })
      : new WebhookTarget(cfg, opts.gateway);
    const self = this;
    this.probe = {
      loop: `partner:${cfg.name}`,
      stallAfterMs: 2 * cfg.retry_max + 60_000,
      hasWork: () => this.queue.length > 0 || this.inHand !== undefined,
      detail: () => this.lastError,
      get lastBeat(): number {
        return Math.max(self.lastProgress, self.lastAttempt);
      },
    };
  }

  start(): void {
    this.unlisten ??= this.opts.journal.onChunk((c) => {
      this.queue.push(c);
      this.signal?.();
    });
    this.auditTimer = setInterval(() => this.audit.tick(), 60_000);
    this.auditTimer.unref();
    this.opts.metrics.partnerConnected.set({ partner: this.name }, 0);
    this.running = this.supervise();
    // The broker link is kept up also while nothing is to be sent: the receive side needs it, and
    // the operator sees a wrong certificate or password at once, not with the first value.
    if (this.target instanceof MqttTarget) this.linking = this.keepLinked(this.target);
  }

  private linking: Promise<void> | undefined;

  /** Keeps the partner's broker connected: reconnects with backoff, forever. */
  private async keepLinked(t: MqttTarget): Promise<void> {
    const backoff = new Backoff(this.opts.cfg.retry_initial, this.opts.cfg.retry_max);
    while (!this.stopping) {
      try {
        await t.connect();
        this.linkUp();
        backoff.reset();
        await t.whenDown();
      } catch (err) {
        if (this.stopping) return;
        const e = err instanceof LinkError ? err : new LinkError('connect', errorMessage(err));
        this.state = e.reason === 'auth' || e.reason === 'tls' || e.reason === 'config' ? 'failing' : 'buffering';
        this.lastError = e.message;
        this.lastAttempt = Date.now();
        const delay = backoff.next();
        if (backoff.attempts === 1 || backoff.attempts % 20 === 0)
          this.opts.log.warn({ partner: this.name, reason: e.reason, err: e.message, retry_ms: delay }, 'partner: connecting failed; retrying');
        await this.pause.sleep(delay);
      }
    }
  }

  private linkUp(): void {
    if (this.state !== 'connected') this.opts.log.info({ partner: this.name }, 'partner: connected');
    this.state = 'connected';
    this.lastError = undefined;
    this.failingSince = 0;
    this.opts.metrics.partnerConnected.set({ partner: this.name }, 1);
  }

  private supervise(): Promise<void> {
    return supervise({
      stopping: () => this.stopping,
      isStop: (err) => err instanceof Stopped,
      sleep: (ms) => this.pause.sleep(ms),
      run: () => {
        // (Re)start from the cursor, with the intervals that were open there.
        this.queue.length = 0;
        const st = this.opts.journal.cursor(this.cursor).state;
        this.restoreWindows(st.extra);
        this.queue.push(...this.opts.journal.chunksAfter(st.position));
        return this.loop();
      },
      failed: (err, delay) => {
        this.lastError = `restarting after: ${errorMessage(err)}`;
        this.opts.log.error({ partner: this.name, err: errorMessage(err), retry_ms: delay }, 'partner: loop failed; it starts again from its cursor');
      },
    });
  }

  private restoreWindows(extra: unknown): void {
    const saved = (extra && typeof extra === 'object' ? (extra as { windows?: Record<string, WindowState> }).windows : undefined) ?? {};
    this.samplers = this.opts.cfg.send.map((e) => {
      if (e.every === undefined) return undefined;
      const d = new Downsampler(e.every);
      const s = saved[entryKey(e)];
      if (Array.isArray(s)) d.restore(s);
      return d;
    });
  }

  private windowState(): unknown {
    const windows: Record<string, WindowState> = {};
    this.opts.cfg.send.forEach((e, i) => {
      const d = this.samplers[i];
      if (d) windows[entryKey(e)] = d.state();
    });
    return Object.keys(windows).length ? { windows } : undefined;
  }

  private async loop(): Promise<void> {
    let next: { chunk: ChunkRef; result: Promise<ShareResult | undefined> } | undefined;
    const take = (): typeof next => {
      const pos = this.opts.journal.cursor(this.cursor).state.position;
      while (this.queue.length) {
        const chunk = this.queue.shift()!;
        if (chunk.next <= pos) continue;
        return { chunk, result: this.decode(chunk) };
      }
      return undefined;
    };
    for (;;) {
      if (this.stopping) throw new Stopped();
      const cur = next ?? take();
      next = undefined;
      this.syncDropped();
      if (!cur) {
        this.inHand = undefined;
        this.lastProgress = Date.now();
        await new Promise<void>((res) => (this.signal = res));
        this.signal = undefined;
        continue;
      }
      const r = await cur.result;
      // The worker selects the next chunk while this one is sent, unless chunks are large (memory
      // holds one big chunk at a time, so a backlog of full chunks drains within the RSS bounds).
      const peek = this.queue[0];
      if (peek && peek.next - peek.start <= PREFETCH_MAX_BYTES) next = take();
      if (r === undefined) {
        // The chunk could not be read back (dropped by on_full, or unreadable): nothing to send.
        await this.acknowledge(cur.chunk);
        continue;
      }
      this.inHand = { firstReceived: r.firstReceived };
      const msgs = this.build(cur.chunk, r);
      if (msgs.length) await this.deliver(msgs, cur.chunk, r);
      await this.acknowledge(cur.chunk);
      this.inHand = undefined;
      this.lastProgress = Date.now();
    }
  }

  /** Reads and selects a chunk; undefined when its bytes are gone. Retries a failing worker a few times. */
  private async decode(chunk: ChunkRef): Promise<ShareResult | undefined> {
    // A partner that only receives has nothing to select: its cursor just follows the journal.
    if (this.spec.entries.length === 0) return { values: [], firstReceived: Number.NaN, lastReceived: Number.NaN };
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await new Promise<Buffer | undefined>((res, rej) => this.opts.journal.readChunk(chunk, (e, d) => (e ? rej(e) : res(d))));
        if (!data) return undefined;
        return await this.opts.decode(data, this.spec);
      } catch (err) {
        if (this.stopping) throw new Stopped();
        if (attempt >= 4) {
          this.opts.log.error(
            { partner: this.name, chunk: chunk.id, records: chunk.records, err: errorMessage(err) },
            'partner: a chunk cannot be read or decoded; it is skipped for this partner',
          );
          this.opts.metrics.partnerErrors.inc({ partner: this.name, reason: 'unreadable' });
          return undefined;
        }
        await this.pause.sleep(Math.min(30_000, 200 * 2 ** attempt));
      }
    }
  }

  /** A chunk's messages: values in journal order per entry, intervals as they close. */
  private build(chunk: ChunkRef, r: ShareResult): OutMessage[] {
    const { cfg } = this.opts;
    const items: Item[][] = cfg.send.map(() => []);
    for (const v of r.values) {
      const d = this.samplers[v.entry];
      if (!d) {
        items[v.entry].push({ id: `${chunk.id}:${v.seq}`, device: v.device, tag: v.tag, ts: v.ts, value: v.value, text: v.text, quality: v.quality });
        continue;
      }
      const w = d.add(v.device, v.tag, v.ts, v.value, v.text, v.quality);
      if (w) items[v.entry].push(windowItem(w));
    }
    if (Number.isFinite(r.lastReceived)) {
      this.samplers.forEach((d, i) => {
        if (d) for (const w of d.due(r.lastReceived)) items[i].push(windowItem(w));
      });
    }
    const out: OutMessage[] = [];
    const ctx = { gateway: this.opts.gateway, partner: this.name, idPrefix: this.opts.idPrefix };
    cfg.send.forEach((e, i) => formatItems(ctx, i, e, items[i], out));
    return out;
  }

  private async take(n: number): Promise<void> {
    const rate = this.opts.cfg.max_rate;
    if (rate <= 0) return;
    for (;;) {
      const now = Date.now();
      this.pacer.tokens = Math.min(rate, this.pacer.tokens + ((now - this.pacer.last) * rate) / 1000);
      this.pacer.last = now;
      const need = Math.min(n, rate);
      if (this.pacer.tokens >= need) {
        this.pacer.tokens -= n;
        return;
      }
      if (this.stopping) throw new Stopped();
      await this.pause.sleep(Math.max(5, Math.ceil(((need - this.pacer.tokens) * 1000) / rate)));
    }
  }

  /** Sends until the partner acknowledged every message (or refused some for good). */
  private async deliver(msgs: OutMessage[], chunk: ChunkRef, r: ShareResult): Promise<void> {
    const { cfg, metrics, log } = this.opts;
    const backoff = new Backoff(cfg.retry_initial, cfg.retry_max);
    const key = `${this.opts.idPrefix}:${this.name}:${chunk.id}`;
    for (;;) {
      if (this.stopping) throw new Stopped();
      this.lastAttempt = Date.now();
      try {
        // A failed connect is counted by the target, once per attempt (the link loop may wait on the same one).
        await this.target.connect();
        this.linkUp();
        const t0 = process.hrtime.bigint();
        const res = await this.target.send(msgs, key, (n) => this.take(n));
        metrics.partnerAckSeconds.observe({ partner: this.name }, Number(process.hrtime.bigint() - t0) / 1e9);
        metrics.partnerSentMessages.inc({ partner: this.name }, res.messages);
        metrics.partnerSentBytes.inc({ partner: this.name }, res.bytes);
        let values = 0;
        const refused = new Set<OutMessage>();
        for (const f of res.refused) for (const m of f.messages) refused.add(m);
        for (const m of msgs) {
          if (refused.has(m)) continue;
          if (m.kind === 'topic') {
            values++;
            this.audit.sentValue(m.device, m.tag, m.ts);
          } else {
            values += m.metrics.length;
            for (const x of m.metrics) this.audit.sentValue(m.device, x.name, x.timestamp);
          }
        }
        metrics.partnerSentValues.inc({ partner: this.name }, values);
        for (const f of res.refused) await this.deadLetter(f.messages, f.reason, chunk.id);
        this.opts.metrics.partnerBacklogSeconds.set({ partner: this.name }, Math.max(0, (Date.now() - r.lastReceived) / 1000));
        return;
      } catch (err) {
        if (this.stopping || err instanceof Stopped) throw new Stopped();
        const e = err instanceof LinkError ? err : new LinkError('send', errorMessage(err));
        if (!e.counted) metrics.partnerErrors.inc({ partner: this.name, reason: e.reason });
        metrics.partnerConnected.set({ partner: this.name }, this.target.connected ? 1 : 0);
        const delay = Math.max(backoff.next(), e.retryAfterMs ?? 0);
        const first = this.state !== 'buffering' && this.state !== 'failing';
        this.state = e.reason === 'auth' || e.reason === 'tls' || e.reason === 'config' ? 'failing' : 'buffering';
        if (!this.failingSince) this.failingSince = Date.now();
        this.lastError = e.message;
        if (first || backoff.attempts % 20 === 0)
          log.warn(
            { partner: this.name, reason: e.reason, err: e.message, retry_ms: delay, chunk: chunk.id },
            'partner: sending failed; the values wait in the journal and are sent again',
          );
        await this.pause.sleep(delay);
      }
    }
  }

  private async deadLetter(msgs: OutMessage[], reason: string, chunk: number): Promise<void> {
    const dir = join(this.opts.stateDir, 'deadletter', 'partners');
    const at = new Date().toISOString();
    const text =
      msgs.map((m) => JSON.stringify({ at, partner: this.name, chunk, reason, message: m.kind === 'topic' ? { topic: m.topic, ...m.body } : m })).join('\n') +
      '\n';
    this.opts.metrics.partnerDeadLetters.inc({ partner: this.name }, msgs.length);
    this.opts.log.error(
      { partner: this.name, messages: msgs.length, reason: reason.slice(0, 300) },
      'partner: the partner refused messages for good; written to the dead letters',
    );
    try {
      await mkdir(dir, { recursive: true });
      await appendFile(join(dir, `${this.name}.jsonl`), text);
    } catch (err) {
      this.opts.log.error({ partner: this.name, err: errorMessage(err) }, 'partner: writing dead letters failed; the refused messages are only in this log');
    }
  }

  private async acknowledge(c: ChunkRef): Promise<void> {
    const extra = this.windowState();
    await retryWrite({
      write: () => this.opts.journal.acknowledge(this.cursor, c, extra),
      stopping: () => this.stopping,
      stopped: () => new Stopped(),
      sleep: (ms) => this.pause.sleep(ms),
      failed: (err) => {
        this.lastError = `cursor write failing: ${errorMessage(err)}`;
        this.opts.metrics.journalCursorErrors.inc({ sink: this.cursor });
      },
    });
  }

  private syncDropped(): void {
    const d = this.opts.journal.droppedFor.get(this.cursor) ?? 0;
    if (d > this.droppedSeen) {
      this.opts.metrics.partnerDropped.inc({ partner: this.name }, d - this.droppedSeen);
      this.droppedSeen = d;
    }
  }

  /** A message from the partner: journaled under $partner/<name>/, acknowledged once committed. */
  private received(topic: string, payload: Buffer, qos: number, done: (err?: Error | null) => void): void {
    const j = this.opts.journal;
    if (payload.length > this.opts.cfg.receive_max_bytes) {
      // Acknowledged (a partner would otherwise send it again forever), not stored.
      this.opts.metrics.partnerErrors.inc({ partner: this.name, reason: 'too_large' });
      this.limitedLog.warn(
        'too_large',
        { partner: this.name, topic: topic.slice(0, 200), bytes: payload.length, max: this.opts.cfg.receive_max_bytes },
        'partner: a message larger than receive_max_bytes was dropped',
      );
      return done();
    }
    const go = () => {
      const now = Date.now();
      j.appendMqtt(now, qos, receivePrefix(this.name) + topic, `partner:${this.name}`, payload);
      this.opts.metrics.partnerReceivedMessages.inc({ partner: this.name });
      this.opts.metrics.partnerReceivedBytes.inc({ partner: this.name }, payload.length);
      this.audit.receivedMessage(topic, now);
      if (qos === 0) return done();
      j.whenCommitted((err) => done(err));
    };
    // A full journal (on_full: block) holds the acknowledgement: the partner keeps the message.
    if (j.blocked) j.whenUnblocked(go);
    else go();
  }

  /** For /metrics and /readyz. */
  status(): PartnerStatus {
    const backlog = this.opts.journal.backlogRecords(this.cursor);
    const seconds = backlog > 0 && this.inHand && Number.isFinite(this.inHand.firstReceived) ? Math.max(0, (Date.now() - this.inHand.firstReceived) / 1000) : 0;
    this.opts.metrics.partnerBacklogRecords.set({ partner: this.name }, backlog);
    this.opts.metrics.partnerBacklogSeconds.set({ partner: this.name }, seconds);
    this.syncDropped();
    return {
      name: this.name,
      target: this.opts.cfg.broker ? this.opts.cfg.broker.url : this.opts.cfg.webhook!.url,
      state: this.state,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      backlogRecords: backlog,
      backlogSeconds: Math.round(seconds),
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unlisten?.();
    this.signal?.();
    this.pause.wake();
    clearInterval(this.auditTimer);
    await this.target.close().catch(() => undefined);
    await Promise.race([Promise.all([this.running, this.linking]), new Promise((res) => setTimeout(res, 5000))]);
    await this.audit.flush();
    this.opts.metrics.partnerConnected.set({ partner: this.name }, 0);
  }
}

function windowItem(w: import('./window.js').Window): Item {
  return { id: `w${w.from}:${w.device}/${w.tag}`, device: w.device, tag: w.tag, ts: w.lastTs, value: w.last, text: w.text, quality: w.quality, window: w };
}
