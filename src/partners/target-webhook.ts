/**
 * A partner's HTTPS endpoint: each chunk's messages as POSTs of JSON batches, each with an
 * Idempotency-Key (`<chunk key>:<batch>`) that repeats only when that batch is sent again.
 * 2xx: acknowledged. 408, 429, 5xx and network errors: retried by the outbox (Retry-After is
 * honoured). Other 4xx: refused for good; the batch goes to the dead letters with the answer.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { secretOf } from '../core/schema.js';
import type { PartnerConfig } from './config.js';
import type { OutMessage, TopicMessage } from './format.js';
import { LinkError, type SendResult, type Target } from './target.js';

const MAX_ANSWER = 2048;

export class WebhookTarget implements Target {
  private up = false;
  /** Batches of the chunk in hand already acknowledged: a retry sends only the rest. */
  private done = new Set<string>();
  private doneFor = '';

  constructor(
    private readonly cfg: PartnerConfig,
    private readonly gateway: string,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  connect(): Promise<void> {
    // Nothing to open: each POST is its own request (keep-alive is the agent's business).
    return Promise.resolve();
  }

  async send(msgs: OutMessage[], key: string, pace: (n: number) => Promise<void>): Promise<SendResult> {
    const w = this.cfg.webhook!;
    if (this.doneFor !== key) {
      this.done = new Set();
      this.doneFor = key;
    }
    const items = msgs.filter((m): m is TopicMessage => m.kind === 'topic');
    const res: SendResult = { messages: 0, bytes: 0, refused: [] };
    for (let i = 0, b = 0; i < items.length; i += w.batch_max, b++) {
      const batch = items.slice(i, i + w.batch_max);
      const id = `${key}:${b}`;
      if (this.done.has(id)) continue;
      await pace(batch.length);
      const body = Buffer.from(
        JSON.stringify({ gateway: this.gateway, partner: this.cfg.name, batch: id, messages: batch.map((m) => ({ topic: m.topic, ...m.body })) }),
      );
      const r = await this.post(body, id);
      this.done.add(id);
      if (r.ok) {
        res.messages += batch.length;
        res.bytes += body.length;
      } else res.refused.push({ messages: batch, reason: r.reason });
    }
    return res;
  }

  private post(body: Buffer, key: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    const w = this.cfg.webhook!;
    const url = new URL(w.url);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': body.length,
      'idempotency-key': key,
      'user-agent': 'fieldgate',
    };
    // Secrets are read for each request: a rotated token is used without a restart.
    if (w.bearer_token_file) headers.authorization = `Bearer ${secretOf(readFileSync(w.bearer_token_file, 'utf8'))}`;
    if (w.hmac_secret_file)
      headers['x-fieldgate-signature'] = `sha256=${createHmac('sha256', secretOf(readFileSync(w.hmac_secret_file, 'utf8')))
        .update(body)
        .digest('hex')}`;
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = req(url, { method: 'POST', headers, timeout: w.timeout, ...(w.ca_file ? { ca: readFileSync(w.ca_file) } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let len = 0;
        res.on('data', (c: Buffer) => {
          if (len < MAX_ANSWER) chunks.push(c);
          len += c.length;
        });
        res.on('error', (e) => reject(new LinkError('connect', e.message)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const answer = Buffer.concat(chunks).toString('utf8').slice(0, MAX_ANSWER);
          if (status >= 200 && status < 300) {
            this.up = true;
            return resolve({ ok: true });
          }
          this.up = status < 500;
          const ra = Number(res.headers['retry-after']);
          const after = Number.isFinite(ra) && ra >= 0 ? Math.min(ra, 3600) * 1000 : undefined;
          if (status === 408 || status === 429 || status >= 500)
            return reject(
              new LinkError(
                status === 429 ? 'http_429' : status === 408 ? 'http_408' : 'http_5xx',
                `the partner answered ${status}: ${answer.slice(0, 200)}`,
                after,
              ),
            );
          resolve({ ok: false, reason: `HTTP ${status}: ${answer}` });
        });
      });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${w.timeout} ms`)));
      r.on('error', (e) => {
        this.up = false;
        const code = (e as NodeJS.ErrnoException).code ?? '';
        reject(
          new LinkError(
            /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME/i.test(code + e.message) ? 'tls' : /no answer/.test(e.message) ? 'timeout' : 'connect',
            e.message,
          ),
        );
      });
      r.end(body);
    });
  }

  close(): Promise<void> {
    this.up = false;
    return Promise.resolve();
  }
}
