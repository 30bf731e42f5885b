/** The console, /metrics, /healthz, /readyz, /status and POST /query on one small node:http(s) server. */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { FgError, errorMessage } from '../core/errors.js';
import { RateLimitedLog, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface HttpHandlers {
  /** Called before each scrape to copy hot-path counters into the registry. */
  beforeScrape(): void;
  ready(): { ready: boolean; body: unknown };
  status(): unknown;
  query(sql: string, format: string): Promise<Buffer>;
  replayDeadLetters(): Promise<{ replayed: number; files: number }>;
  /** The web console's paths (/, /assets/*, /api/*): false when a path is not one of them. */
  console?: { handle(req: IncomingMessage, res: ServerResponse, url: URL, user: string | undefined): Promise<boolean>; close(): void };
}

/** Users and TLS of the endpoint (http.users, cert_file, key_file). */
export interface HttpAccess {
  auth?: { enabled: boolean; user(req: IncomingMessage): Promise<string | undefined> };
  cert_file?: string;
  key_file?: string;
}

const MAX_QUERY_BYTES = 1024 * 1024;

export interface HttpLimits {
  max_connections: number;
  headers_timeout: number;
  request_timeout: number;
}

/** A request body over the limit: answered 413, never a reset. */
export class TooLarge extends Error {}

export function isLoopback(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));
}

export class HttpEndpoint {
  private server: Server | undefined;
  port = 0;
  healthy = false;

  private readonly rare: RateLimitedLog;

  constructor(
    private readonly bind: { host: string; port: number },
    private readonly metrics: Metrics,
    private readonly h: HttpHandlers,
    private readonly log: Logger,
    private readonly limits: HttpLimits = { max_connections: 64, headers_timeout: 10_000, request_timeout: 60_000 },
    private readonly access: HttpAccess = {},
  ) {
    this.rare = new RateLimitedLog(log);
  }

  async start(): Promise<void> {
    const answering = new WeakSet<Socket>();
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      answering.add(req.socket);
      res.once('close', () => answering.delete(req.socket));
      this.route(req, res).catch((err: unknown) => send(res, 500, 'text/plain', `${errorMessage(err)}\n`));
    };
    const a = this.access;
    const server: Server =
      a.cert_file && a.key_file ? createHttpsServer({ cert: readFileSync(a.cert_file), key: readFileSync(a.key_file) }, handler) : createServer(handler);
    server.keepAliveTimeout = 5000;
    // Bounds against slow or many clients: each connection costs a file descriptor the broker needs
    // too. Past max_connections the oldest connection that is not being answered is closed, so a
    // flood of slow connections cannot lock out a health probe that comes after it.
    server.headersTimeout = this.limits.headers_timeout;
    server.requestTimeout = this.limits.request_timeout;
    const open = new Set<Socket>();
    server.on('connection', (sock: Socket) => {
      if (open.size >= this.limits.max_connections) {
        let victim: Socket | undefined;
        for (const old of open) {
          if (answering.has(old)) continue; // a request is being answered on it: keep it
          victim = old;
          break;
        }
        this.metrics.connectionsRefused.inc({ listener: 'http', reason: 'max_connections' });
        this.rare.warn(
          'http-evict',
          { max_connections: this.limits.max_connections },
          'http: max_connections reached; closed the oldest idle or slow connection (counted in fieldgate_connections_refused_total)',
        );
        if (!victim) {
          sock.destroy(); // every connection is being answered: the new one waits for none
          return;
        }
        open.delete(victim);
        victim.destroy();
      }
      open.add(sock);
      sock.once('close', () => open.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new FgError('FG_E_LISTEN', `http: cannot listen on ${this.bind.host}:${this.bind.port}: ${errorMessage(err)}`)));
      server.listen(this.bind.port, this.bind.host, () => resolve());
    });
    server.on('error', (err) => acceptFailed(this.metrics, this.rare, 'http', err));
    const addr = server.address();
    if (addr && typeof addr === 'object') this.port = addr.port;
    this.server = server;
    this.log.info({ bind: `${this.bind.host}:${this.port}`, tls: !!a.cert_file, users: !!a.auth?.enabled }, 'http: listening');
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      // A path like '//x' parses as a host (found by the fuzzer: it answered 500).
      url = new URL(`http://x${(req.url ?? '/').startsWith('/') ? '' : '/'}${req.url ?? '/'}`);
    } catch {
      return send(res, 400, 'text/plain', 'bad request path\n');
    }
    const key = `${req.method} ${url.pathname}`;
    // Open to all: scrapers, probes, and the loopback-only CLI paths. Everything else is the console's and needs a user when there are users.
    const open = key === 'GET /metrics' || key === 'GET /healthz' || key === 'GET /readyz' || key === 'POST /query' || key === 'POST /deadletter/replay';
    let user: string | undefined;
    if (!open && this.access.auth?.enabled) {
      user = await this.access.auth.user(req);
      if (user === undefined) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fieldgate", charset="UTF-8"', 'content-type': 'text/plain' });
        res.end('a user and password are needed (http.users)\n');
        return;
      }
    }
    switch (key) {
      case 'GET /metrics': {
        this.h.beforeScrape();
        return send(res, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
      }
      case 'GET /healthz':
        return send(res, this.healthy ? 200 : 503, 'text/plain', this.healthy ? 'ok\n' : 'starting\n');
      case 'GET /readyz': {
        const r = this.h.ready();
        return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r.body) + '\n');
      }
      case 'GET /status':
        return send(res, 200, 'application/json', JSON.stringify(this.h.status(), null, 2) + '\n');
      case 'POST /query': {
        if (!isLoopback(req.socket.remoteAddress)) return send(res, 403, 'text/plain', 'queries are answered on loopback only\n');
        let sql: string;
        try {
          sql = (await readBody(req, MAX_QUERY_BYTES)).toString('utf8');
        } catch (err) {
          if (!(err instanceof TooLarge)) throw err;
          res.setHeader('connection', 'close');
          return send(res, 413, 'text/plain', `query too large: at most ${MAX_QUERY_BYTES} bytes\n`);
        }
        const format = url.searchParams.get('format') ?? 'TabSeparated';
        try {
          return send(res, 200, 'application/octet-stream', await this.h.query(sql, format));
        } catch (err) {
          return send(res, 400, 'text/plain', `${errorMessage(err)}\n`);
        }
      }
      case 'POST /deadletter/replay': {
        if (!isLoopback(req.socket.remoteAddress)) return send(res, 403, 'text/plain', 'loopback only\n');
        return send(res, 200, 'application/json', JSON.stringify(await this.h.replayDeadLetters()) + '\n');
      }
      default:
        if (this.h.console && (await this.h.console.handle(req, res, url, user))) return;
        return send(res, 404, 'text/plain', 'not found: try /, /metrics, /healthz, /readyz, /status, POST /query\n');
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.h.console?.close();
    s.closeAllConnections();
    await new Promise<void>((res) => s.close(() => res()));
  }
}

function send(res: ServerResponse, status: number, type: string, data: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

/** How much of an oversized body is read and thrown away so the client can read its 413. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A request body of at most `max` bytes. A larger one is read to its end and thrown away before
 * TooLarge is thrown: a server that answers while the client is still sending and then closes
 * makes the client's write fail (EPIPE, a reset) before it reads the answer. Past
 * DRAIN_MAX_BYTES the connection is closed at once; the request timeout bounds a slow sender.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= max) chunks.push(c);
      else if (chunks.length > 0) chunks.length = 0;
      if (n > DRAIN_MAX_BYTES) {
        req.destroy();
        reject(new TooLarge());
      }
    });
    req.on('end', () => (n > max || declared > max ? reject(new TooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
    req.on('close', () => reject(new Error('the request was aborted'))); // after 'end' this settles nothing
  });
}

/**
 * An error of a listening server after it is bound: accept() failing for want of file descriptors
 * (EMFILE, ENFILE) or memory. Logged (once a minute) and counted; the server keeps listening.
 */
export function acceptFailed(metrics: Metrics, log: RateLimitedLog, listener: string, err: Error): void {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  metrics.connectionsRefused.inc({ listener, reason: code === 'EMFILE' || code === 'ENFILE' ? 'no_file_descriptors' : 'accept_error' });
  log.warn(
    `accept-${listener}-${code}`,
    { listener, code, err: errorMessage(err) },
    code === 'EMFILE' || code === 'ENFILE'
      ? 'out of file descriptors: a connection could not be accepted (raise LimitNOFILE, or find what holds them)'
      : 'a connection could not be accepted',
  );
}
