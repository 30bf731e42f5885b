/**
 * ClickHouse's HTTP interface, read-only, in front of the first sink's store (`http.clickhouse_bind`):
 * so Grafana, @clickhouse/client and anything else that speaks ClickHouse over HTTP can read the
 * embedded store. `?query=` and POST bodies (also gzip), the format from a trailing `FORMAT x`,
 * `default_format` or `X-ClickHouse-Format`; users from `X-ClickHouse-User`/`X-ClickHouse-Key`,
 * basic auth or `user`/`password`; gzip answers with `enable_http_compression=1`; the
 * `X-ClickHouse-*` headers clients read. Every query takes the gateway's query path: the
 * read-only guard, one at a time, its time and memory limits. Other settings are ignored.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { FgError, errorMessage } from '../../core/errors.js';
import type { Logger } from '../../telemetry/logger.js';
import { readBody, TooLarge } from '../../telemetry/http.js';
import { splitFormat } from './readonly.js';
import { TransportError } from './transport.js';

const MAX_BODY = 1024 * 1024;
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface ClickHouseHttpOptions {
  bind: { host: string; port: number };
  query(sql: string, format: string): Promise<Buffer>;
  /** Whether a user and password may read; undefined when there are no users (loopback only, anyone). */
  authenticate?: (user: string, password: string) => Promise<boolean>;
  version: () => string | undefined;
  log: Logger;
}

function contentType(format: string): string {
  if (/^JSON/.test(format) && !/EachRow/.test(format)) return 'application/json; charset=UTF-8';
  if (/EachRow|NDJSON/.test(format)) return 'application/x-ndjson; charset=UTF-8';
  if (/^(TabSeparated|TSV)/.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/.test(format)) return 'text/csv; charset=UTF-8; header=absent';
  if (/^(RowBinary|Native)/.test(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

export class ClickHouseHttp {
  private server: Server | undefined;
  port = 0;

  constructor(private readonly o: ClickHouseHttpOptions) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.answer(req, res).catch((err: unknown) => fail(res, 500, 1002, errorMessage(err)));
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new FgError('FG_E_LISTEN', `clickhouse_bind: cannot listen on ${this.o.bind.host}:${this.o.bind.port}: ${errorMessage(err)}`)),
      );
      server.listen(this.o.bind.port, this.o.bind.host, () => resolve());
    });
    const a = server.address();
    if (a && typeof a === 'object') this.port = a.port;
    this.server = server;
    this.o.log.info({ bind: `${this.o.bind.host}:${this.port}` }, 'clickhouse_bind: answering ClickHouse HTTP reads');
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.searchParams;
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !p.has('query'))) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' });
      res.end('Ok.\n');
      return;
    }
    if (url.pathname !== '/' || (req.method !== 'GET' && req.method !== 'POST')) return fail(res, 404, 1001, `not found: ${req.method} ${url.pathname}`);

    if (this.o.authenticate) {
      let user = header(req, 'x-clickhouse-user') ?? p.get('user') ?? undefined;
      let password = header(req, 'x-clickhouse-key') ?? p.get('password') ?? '';
      const basic = header(req, 'authorization');
      if (basic?.startsWith('Basic ')) {
        const text = Buffer.from(basic.slice(6).trim(), 'base64').toString('utf8');
        const i = text.indexOf(':');
        if (i >= 0) [user, password] = [text.slice(0, i), text.slice(i + 1)];
      }
      if (user === undefined || !(await this.o.authenticate(user, password)))
        return fail(
          res,
          401,
          516,
          `${user ?? 'default'}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)`,
        );
    }

    let body = '';
    if (req.method === 'POST') {
      let raw: Buffer;
      try {
        raw = await readBody(req, MAX_BODY);
      } catch (err) {
        if (!(err instanceof TooLarge)) throw err;
        res.setHeader('connection', 'close');
        return fail(res, 413, 1001, `the query is larger than ${MAX_BODY} bytes`);
      }
      if (header(req, 'content-encoding') === 'gzip') {
        try {
          raw = await gunzipAsync(raw, { maxOutputLength: MAX_BODY }); // a small gzip bomb stays small
        } catch (err) {
          const big = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
          return fail(
            res,
            big ? 413 : 400,
            big ? 1001 : 354,
            big ? `the query is larger than ${MAX_BODY} bytes` : `cannot gunzip the body: ${errorMessage(err)}`,
          );
        }
      }
      body = raw.toString('utf8');
    }
    const text = [p.get('query') ?? '', body].filter((x) => x.trim() !== '').join(' ');
    if (!text.trim()) return fail(res, 400, 62, 'Empty query. (SYNTAX_ERROR)');
    const { sql, format: named } = splitFormat(text);
    const format = named ?? p.get('default_format') ?? header(req, 'x-clickhouse-format') ?? 'TabSeparated';
    const queryId = p.get('query_id') ?? randomUUID();
    let out: Buffer;
    try {
      out = await this.o.query(sql, format);
    } catch (err) {
      const msg = errorMessage(err).split('\n')[0];
      if (err instanceof TransportError && err.status === 400) return fail(res, 400, 164, `${msg} (READONLY)`);
      return fail(res, 500, 1002, msg);
    }
    const headers: Record<string, string | number> = {
      'content-type': contentType(format),
      'x-clickhouse-format': format,
      'x-clickhouse-query-id': queryId,
      'x-clickhouse-timezone': 'UTC',
      'x-clickhouse-server-display-name': 'fieldgate',
      'x-clickhouse-summary': JSON.stringify({
        read_rows: '0',
        read_bytes: '0',
        written_rows: '0',
        written_bytes: '0',
        total_rows_to_read: '0',
        result_rows: '0',
        result_bytes: String(out.length),
      }),
    };
    const v = this.o.version();
    if (v) headers['x-clickhouse-server-version'] = v;
    if (p.get('enable_http_compression') === '1' && /\bgzip\b/.test(header(req, 'accept-encoding') ?? '')) {
      out = await gzipAsync(out);
      headers['content-encoding'] = 'gzip';
    }
    res.writeHead(200, { ...headers, 'content-length': out.length });
    res.end(out);
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** An error as ClickHouse writes one: the clients read the code and the message from the body. */
function fail(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = /^Code: \d+\./.test(message) ? `${message}\n` : `Code: ${code}. DB::Exception: ${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=UTF-8',
    'x-clickhouse-exception-code': String(code),
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
