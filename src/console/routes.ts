/**
 * The console's HTTP side: its files (from the package's console/ folder and uPlot's dist, held
 * in memory with their gzip), the JSON API and one Server-Sent Events stream of the overview
 * (computed once per tick for every open page). Read-only, except the dead-letter replay: that
 * needs a logged-in user, a same-origin POST and the user's CSRF token.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { ConsoleApi } from './api.js';
import type { BasicAuth } from './auth.js';

export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));
const EVENT_EVERY_MS = 2000;
const MAX_STREAMS = 16;

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

interface Asset {
  type: string;
  raw: Buffer;
  gz: Buffer;
  etag: string;
}

function uplotDir(): string {
  return dirname(createRequire(import.meta.url).resolve('uplot'));
}

/** The console's files: path → bytes and gzip. */
export function loadAssets(): Map<string, Asset> {
  const files: Array<[string, string]> = [
    ['/', join(CONSOLE_DIR, 'index.html')],
    ['/assets/app.js', join(CONSOLE_DIR, 'app.js')],
    ['/assets/app.css', join(CONSOLE_DIR, 'app.css')],
    ['/assets/favicon.svg', join(CONSOLE_DIR, 'favicon.svg')],
    ['/assets/uplot.js', join(uplotDir(), 'uPlot.iife.min.js')],
    ['/assets/uplot.css', join(uplotDir(), 'uPlot.min.css')],
  ];
  const out = new Map<string, Asset>();
  for (const [path, file] of files) {
    const raw = readFileSync(file);
    const ext = file.slice(file.lastIndexOf('.') + 1);
    out.set(path, { type: TYPES[ext] ?? 'application/octet-stream', raw, gz: gzipSync(raw, { level: 9 }), etag: `"${raw.length.toString(16)}-${hash(raw)}"` });
  }
  return out;
}

function hash(b: Buffer): string {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  return h.toString(16);
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export class ConsoleRoutes {
  private readonly assets = loadAssets();
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly api: ConsoleApi,
    private readonly auth: BasicAuth,
    private readonly log: Logger,
    private readonly replay: () => Promise<{ replayed: number; files: number }>,
  ) {}

  /** Bytes of the console's files, raw and gzipped (for the closing figures and the README). */
  get size(): { raw: number; gzip: number } {
    let raw = 0;
    let gzip = 0;
    for (const a of this.assets.values()) {
      raw += a.raw.length;
      gzip += a.gz.length;
    }
    return { raw, gzip };
  }

  /** Answers a console path; false when the path is not the console's. `user` is the authenticated user, if any. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, user: string | undefined): Promise<boolean> {
    const path = url.pathname === '/index.html' ? '/' : url.pathname;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const a = this.assets.get(path);
      if (a) {
        sendAsset(req, res, a);
        return true;
      }
    }
    if (!path.startsWith('/api/')) return false;
    const key = `${req.method} ${path}`;
    try {
      switch (key) {
        case 'GET /api/session':
          return json(res, 200, { user: user ?? null, csrf: user ? this.auth.csrf(user) : null, replay: !!user, auth: this.auth.enabled });
        case 'GET /api/overview':
          return json(res, 200, await this.api.overview());
        case 'GET /api/devices':
          return json(res, 200, await this.api.devices());
        case 'GET /api/series': {
          const device = url.searchParams.get('device');
          const tag = url.searchParams.get('tag');
          if (!device || !tag) return json(res, 400, { error: 'device and tag are required' });
          try {
            return json(res, 200, await this.api.series(device, tag, url.searchParams.get('range') ?? '1h', { raw: url.searchParams.get('raw') === '1' }));
          } catch (err) {
            if (err instanceof RangeError) return json(res, 400, { error: err.message });
            throw err;
          }
        }
        case 'GET /api/deadletters':
          return json(res, 200, await this.api.deadLetterSummary());
        case 'POST /api/deadletters/replay': {
          if (!user) return json(res, 403, { error: 'replaying dead letters needs a logged-in user (http.users)' });
          if (!sameOrigin(req)) return json(res, 403, { error: 'cross-origin request refused' });
          if (!this.auth.checkCsrf(user, header(req, 'x-csrf-token'))) return json(res, 403, { error: 'missing or wrong CSRF token' });
          const r = await this.replay();
          this.log.info({ user, ...r }, 'console: dead letters replayed');
          return json(res, 200, r);
        }
        case 'GET /api/events':
          return this.stream(res);
        default:
          return json(res, 404, { error: `not found: ${key}` });
      }
    } catch (err) {
      return json(res, 503, { error: errorMessage(err).split('\n')[0] });
    }
  }

  /** Server-Sent Events: the overview every EVENT_EVERY_MS, one computation for all open pages. */
  private stream(res: ServerResponse): true {
    if (this.streams.size >= MAX_STREAMS) {
      json(res, 503, { error: `at most ${MAX_STREAMS} live pages at once` });
      return true;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.write('retry: 3000\n\n');
    this.streams.add(res);
    res.once('close', () => {
      this.streams.delete(res);
      if (!this.streams.size && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    });
    void this.tick();
    this.timer ??= setInterval(() => void this.tick(), EVENT_EVERY_MS);
    return true;
  }

  private ticking = false;
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const data = `event: overview\ndata: ${JSON.stringify(await this.api.overview())}\n\n`;
      for (const s of this.streams) s.write(data);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'console: overview failed');
    } finally {
      this.ticking = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.streams) s.end();
    this.streams.clear();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A POST the console's own page made: Origin (browsers send it on POST) names this host; a fetch metadata header, if sent, says same-origin. */
function sameOrigin(req: IncomingMessage): boolean {
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = header(req, 'origin');
  if (origin === undefined) return site === 'same-origin';
  try {
    return new URL(origin).host === header(req, 'host');
  } catch {
    return false;
  }
}

function json(res: ServerResponse, status: number, body: unknown): true {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(data), ...SECURITY_HEADERS });
  res.end(data);
  return true;
}

function sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  const headers: Record<string, string | number> = {
    'content-type': a.type,
    etag: a.etag,
    'cache-control': 'no-cache',
    vary: 'accept-encoding',
    ...SECURITY_HEADERS,
  };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gz ? a.gz : a.raw;
  res.writeHead(200, { ...headers, 'content-length': body.length, ...(gz ? { 'content-encoding': 'gzip' } : {}) });
  res.end(req.method === 'HEAD' ? undefined : body);
}
