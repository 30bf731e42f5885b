/** The ClickHouse server transport: the only file that imports @clickhouse/client. */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { systemCode } from '../../core/errors.js';
import { checkFormat, checkReadOnly } from './readonly.js';
import { TransportError, type InsertBody, type QueryLimits, type Transport } from './transport.js';
import type { ClickHouseConfig } from './config.js';

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly target: string;
  private readonly client: ClickHouseClient;

  constructor(cfg: ClickHouseConfig & { url: string }, password: string | undefined) {
    const u = new URL(cfg.url);
    u.username = '';
    u.password = '';
    this.target = u.toString();
    this.client = createClient({
      url: cfg.url,
      username: cfg.user,
      password: password ?? '',
      request_timeout: cfg.request_timeout,
      compression: { request: false, response: false },
      keep_alive: { enabled: true },
      // The client's own logger prints stack traces to stderr; errors reach our logs through the sink.
      log: { level: ClickHouseLogLevel.OFF },
      ...(cfg.tls_ca_file ? { tls: { ca_cert: readFileSync(cfg.tls_ca_file) } } : {}),
    });
  }

  async exec(sql: string, settings: Record<string, string | number> = {}): Promise<string> {
    try {
      const r = await this.client.exec({ query: sql, clickhouse_settings: settings });
      const chunks: Buffer[] = [];
      for await (const c of r.stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      throw translate(err);
    }
  }

  async insert(table: string, body: InsertBody, settings: Record<string, string | number>): Promise<void> {
    try {
      const r = await this.client.exec({ query: `INSERT INTO ${table} FORMAT RowBinary`, values: Readable.from([body.data]), clickhouse_settings: settings });
      r.stream.resume();
      await new Promise<void>((res, rej) => {
        r.stream.on('end', res);
        r.stream.on('error', rej);
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async query(sql: string, format: string, limits: QueryLimits): Promise<Buffer> {
    // The server enforces readonly = 1 for the request (a statement cannot lift it); the same
    // checks as for the embedded store keep both doors alike.
    const q = `${checkReadOnly(sql)} FORMAT ${checkFormat(format)}`;
    try {
      const r = await this.client.exec({
        query: q,
        clickhouse_settings: { readonly: '1', max_execution_time: Math.ceil(limits.timeoutMs / 1000), max_memory_usage: String(limits.maxMemory) },
      });
      const chunks: Buffer[] = [];
      for await (const c of r.stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      throw translate(err);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function translate(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as { message?: string; code?: unknown; cause?: unknown };
  const msg = e?.message ?? String(err);
  const sys = systemCode(err) ?? systemCode(e?.cause);
  const status = /status code:? (\d{3})/i.exec(msg);
  return new TransportError(msg.trim(), status ? Number(status[1]) : clickhouseStatus(msg), sys);
}

function clickhouseStatus(msg: string): number | undefined {
  return /Code:\s*\d+/.test(msg) ? 500 : undefined;
}
