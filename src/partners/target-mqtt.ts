/**
 * The partner's MQTT broker (3.1.1), through mqtt.js (the only file that imports it). One
 * connection at a time, no automatic reconnect: the outbox decides when to try again, and a link
 * that drops fails the chunk in hand, which is then sent again whole (same ids). A persistent
 * session (clean: false) keeps the partner's orders for us while the uplink is down; each one is
 * acknowledged only once it is in the journal.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IClientOptions, MqttClient, Packet } from 'mqtt';
import { encodePayload, type OutMetric } from '../core/sparkplug.js';
import type { PartnerConfig } from './config.js';
import type { OutMessage, SparkplugMessage } from './format.js';
import { LinkError, type SendResult, type Target } from './target.js';

/** A message from the partner: call `done` once it is durable (the PUBACK waits for it). */
export type OnReceive = (topic: string, payload: Buffer, qos: number, done: (err?: Error | null) => void) => void;

export interface MqttTargetOptions {
  cfg: PartnerConfig;
  gateway: string;
  /** Subscription filters (from the receive templates) and their QoS. */
  subscriptions: Array<{ filter: string; qos: 0 | 1 }>;
  onReceive: OnReceive;
  onDown: (why: string) => void;
  /** A connection attempt failed (called once per attempt, however many loops wait on it). */
  onConnectFailed: (e: LinkError) => void;
  /** Sparkplug B send entries exist: publish NBIRTH, keep NDEATH as the will. */
  sparkplug: boolean;
  warn: (obj: object, msg: string) => void;
}

function classify(err: unknown): LinkError {
  const e = err as NodeJS.ErrnoException & { code?: string | number };
  const code = String(e?.code ?? '');
  const msg = e instanceof Error ? e.message : String(err);
  if (code === '4' || code === '5' || /Not authorized|Bad username or password/i.test(msg))
    return new LinkError('auth', `the partner broker refused our login: ${msg}`);
  if (/^ERR_TLS|^ERR_SSL|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO|HOSTNAME|altname/i.test(code) || /certificate|ssl|tls|altname/i.test(msg))
    return new LinkError('tls', `TLS with the partner broker failed: ${msg}`);
  if (/timeout/i.test(code) || /timeout|timed out/i.test(msg)) return new LinkError('timeout', msg);
  return new LinkError('connect', msg);
}

/** Sparkplug names carry no / or wildcards in the topic's device level. */
const spId = (s: string) => s.replace(/[/+#]/g, '_') || '_';

export class MqttTarget implements Target {
  private client: MqttClient | undefined;
  private up = false;
  private readonly failers = new Set<(e: LinkError) => void>();
  private bdSeq = 0;
  private seq = 0;
  private readonly born = new Map<string, Map<string, OutMetric>>();
  private readonly group: string;
  private readonly edge: string;

  constructor(private readonly opts: MqttTargetOptions) {
    this.group = opts.cfg.sparkplug.group_id;
    this.edge = spId(opts.cfg.sparkplug.edge_node_id || opts.gateway);
  }

  get connected(): boolean {
    return this.up;
  }

  private options(): IClientOptions {
    const b = this.opts.cfg.broker!;
    const tls = b.url.startsWith('mqtts:');
    // Certificates are read at every connect: a renewed one is used without a restart.
    const opts: IClientOptions = {
      clientId: b.client_id,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: Math.round(b.keepalive / 1000),
      connectTimeout: b.connect_timeout,
      resubscribe: false,
      ...(b.username !== undefined ? { username: b.username } : {}),
      ...(b.password !== undefined ? { password: b.password } : {}),
      ...(tls
        ? {
            rejectUnauthorized: true,
            ...(b.ca_file ? { ca: readFileSync(b.ca_file) } : {}),
            ...(b.cert_file ? { cert: readFileSync(b.cert_file), key: readFileSync(b.key_file!) } : {}),
            ...(b.servername ? { servername: b.servername } : {}),
          }
        : {}),
    };
    if (this.opts.sparkplug) {
      opts.will = {
        topic: `spBv1.0/${this.group}/NDEATH/${this.edge}`,
        payload: encodePayload(Date.now(), 0, [], [{ name: 'bdSeq', long: this.bdSeq }]),
        qos: 1,
        retain: false,
      };
    }
    return opts;
  }

  private connecting: Promise<void> | undefined;

  /** Opens the link; one attempt at a time (the send loop and the receive side share it). */
  connect(): Promise<void> {
    if (this.up && this.client) return Promise.resolve();
    this.connecting ??= this.open()
      .catch((err: unknown) => {
        const e = err instanceof LinkError ? err : new LinkError('connect', String(err));
        this.opts.onConnectFailed(e);
        e.counted = true;
        throw e;
      })
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Resolves when the link is lost (at once when it is not up). */
  whenDown(): Promise<void> {
    if (!this.up) return Promise.resolve();
    return new Promise((res) => this.downWaiters.push(res));
  }

  private downWaiters: Array<() => void> = [];

  private async open(): Promise<void> {
    this.drop();
    const mqtt = createRequire(import.meta.url)('mqtt') as typeof import('mqtt');
    let opts: IClientOptions;
    try {
      opts = this.options();
    } catch (err) {
      throw new LinkError('config', `reading the partner's certificates failed: ${(err as Error).message}`);
    }
    const client = mqtt.connect(this.opts.cfg.broker!.url, opts);
    this.client = client;
    // Messages from the partner: the PUBACK waits until the journal holds them.
    (client as unknown as { handleMessage: (p: Packet, cb: (err?: Error | null) => void) => void }).handleMessage = (p, cb) => {
      const pub = p as Packet & { topic: string; payload: Buffer | string; qos: number };
      this.opts.onReceive(pub.topic, Buffer.isBuffer(pub.payload) ? pub.payload : Buffer.from(pub.payload), pub.qos, (err) => cb(err ?? undefined));
    };
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => {
        client.removeAllListeners('connect');
        reject(classify(err));
      };
      client.once('connect', () => {
        client.removeListener('error', fail);
        client.removeListener('close', closed);
        resolve();
      });
      const closed = () => fail(new Error('the partner broker closed the connection before CONNACK'));
      client.once('error', fail);
      client.once('close', closed);
    }).catch((err: unknown) => {
      this.drop();
      throw err;
    });
    client.on('error', (err) => this.opts.warn({ err: err.message }, 'partner: MQTT error'));
    client.on('close', () => this.lost('the partner broker closed the connection'));
    client.on('offline', () => this.lost('the link to the partner broker went down'));
    this.up = true;
    this.seq = 0;
    this.born.clear();
    for (const s of this.opts.subscriptions) {
      const granted = await new Promise<number>((resolve, reject) =>
        client.subscribe(s.filter, { qos: s.qos }, (err, g) => (err ? reject(classify(err)) : resolve(g?.[0]?.qos ?? 128))),
      );
      if (granted === 128) this.opts.warn({ filter: s.filter }, 'partner: the partner broker refused a receive subscription (its ACL?); nothing arrives on it');
    }
    if (this.opts.sparkplug) {
      await this.publish(`spBv1.0/${this.group}/NBIRTH/${this.edge}`, encodePayload(Date.now(), this.nextSeq(), [], [{ name: 'bdSeq', long: this.bdSeq }]), 1);
      this.bdSeq = (this.bdSeq + 1) % 256;
    }
  }

  private lost(why: string): void {
    if (!this.up) return;
    this.up = false;
    const e = new LinkError('closed', why);
    for (const f of this.failers) f(e);
    this.failers.clear();
    for (const w of this.downWaiters.splice(0)) w();
    this.opts.onDown(why);
  }

  private drop(): void {
    const c = this.client;
    this.client = undefined;
    this.up = false;
    if (c) {
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.end(true);
    }
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  /** One PUBLISH; resolves on PUBACK (QoS 1) or once written (QoS 0), rejects when the link drops first. */
  private publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> {
    const c = this.client;
    if (!c || !this.up) return Promise.reject(new LinkError('closed', 'not connected to the partner broker'));
    return new Promise<void>((resolve, reject) => {
      const fail = (e: LinkError) => reject(e);
      this.failers.add(fail);
      c.publish(topic, payload, { qos }, (err) => {
        this.failers.delete(fail);
        if (err) reject(classify(err));
        else resolve();
      });
    });
  }

  async send(msgs: OutMessage[], _key: string, pace: (n: number) => Promise<void>): Promise<SendResult> {
    let bytes = 0;
    const acks: Array<Promise<void>> = [];
    for (let i = 0; i < msgs.length; i += 100) {
      await pace(Math.min(100, msgs.length - i));
      for (const m of msgs.slice(i, i + 100)) {
        if (m.kind === 'topic') {
          const payload = Buffer.from(JSON.stringify(m.body));
          bytes += payload.length;
          acks.push(this.publish(m.topic, payload, m.qos));
        } else {
          for (const [topic, payload] of this.sparkplug(m)) {
            bytes += payload.length;
            acks.push(this.publish(topic, payload, m.qos));
          }
        }
      }
      if (!this.up) break;
    }
    const results = await Promise.allSettled(acks);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return { messages: msgs.length, bytes, refused: [] };
  }

  /** A device's DBIRTH when it is new (or has a new metric) on this connection, then its DDATA. */
  private sparkplug(m: SparkplugMessage): Array<[string, Buffer]> {
    const dev = spId(m.device);
    const out: Array<[string, Buffer]> = [];
    let known = this.born.get(dev);
    const fresh = !known || m.metrics.some((x) => !known!.has(x.name));
    if (!known) this.born.set(dev, (known = new Map<string, OutMetric>()));
    for (const x of m.metrics) known.set(x.name, x);
    const now = Date.now();
    if (fresh) out.push([`spBv1.0/${this.group}/DBIRTH/${this.edge}/${dev}`, encodePayload(now, this.nextSeq(), [...known.values()])]);
    out.push([`spBv1.0/${this.group}/DDATA/${this.edge}/${dev}`, encodePayload(now, this.nextSeq(), m.metrics)]);
    return out;
  }

  async close(): Promise<void> {
    const c = this.client;
    for (const w of this.downWaiters.splice(0)) w();
    // Publishes still waiting for a PUBACK end now (their chunk is sent again after a restart).
    const e = new LinkError('closed', 'the partner link was closed');
    for (const f of this.failers) f(e);
    this.failers.clear();
    if (!c) return;
    this.up = false;
    c.removeAllListeners('close');
    c.removeAllListeners('offline');
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      c.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.drop();
  }
}
