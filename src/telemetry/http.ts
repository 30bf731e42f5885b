/** /metrics, /healthz, /readyz, /status and POST /query on one small node:http server. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FgError, errorMessage } from '../core/errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface HttpHandlers {
  /** Called before each scrape to copy hot-path counters into the registry. */
  beforeScrape(): void;
  ready(): { ready: boolean; body: unknown };
  status(): unknown;
  query(sql: string, format: string): Promise<Buffer>;
  replayDeadLetters(): Promise<{ replayed: number; files: number }>;
}

const MAX_QUERY_BYTES = 1024 * 1024;

export function isLoopback(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));
}

export class HttpEndpoint {
  private server: Server | undefined;
  port = 0;
  healthy = false;

  constructor(
    private readonly bind: { host: string; port: number },
    private readonly metrics: Metrics,
    private readonly h: HttpHandlers,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => send(res, 500, 'text/plain', `${errorMessage(err)}\n`));
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new FgError('FG_E_LISTEN', `http: cannot listen on ${this.bind.host}:${this.bind.port}: ${errorMessage(err)}`)));
      server.listen(this.bind.port, this.bind.host, () => resolve());
    });
    const a = server.address();
    if (a && typeof a === 'object') this.port = a.port;
    this.server = server;
    this.log.info({ bind: `${this.bind.host}:${this.port}` }, 'http: listening');
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = `${req.method} ${url.pathname}`;
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
        const sql = await body(req);
        const format = url.searchParams.get('format') ?? 'TabSeparated';
        if (!/^[A-Za-z0-9]+$/.test(format)) return send(res, 400, 'text/plain', `bad format ${JSON.stringify(format)}\n`);
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
        return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz, /readyz, /status, POST /query\n');
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((res) => s.close(() => res()));
  }
}

function send(res: ServerResponse, status: number, type: string, data: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_QUERY_BYTES) {
        reject(new Error('query too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
