/**
 * The embedded store: the only file that imports chdb. chDB allows one store
 * per process and its async calls run on Node's libuv pool, which the journal's
 * fdatasync shares: every call goes through one queue, so at most one pool
 * thread is ever busy with chDB (see docs/architecture.md).
 */
import { createRequire } from 'node:module';
import { mkdirSync, unlink, writeFile } from 'node:fs';
import { join } from 'node:path';
import { FgError, errorMessage } from '../../core/errors.js';
import { checkFormat, checkReadOnly } from './readonly.js';
import { TransportError, type InsertBody, type QueryLimits, type Transport } from './transport.js';

interface ChdbResult {
  bytes(): Uint8Array;
  text(): string;
}
interface ChdbSession {
  queryAsync(sql: string, opts?: { format?: string }): Promise<ChdbResult>;
  close(): void;
}
interface ChdbModule {
  Session: new (path: string, opts?: { installSignalHandlers?: boolean }) => ChdbSession;
}

export function loadChdb(): ChdbModule {
  try {
    return createRequire(import.meta.url)('chdb') as ChdbModule;
  } catch (err) {
    throw new FgError(
      'FG_E_CHDB_MISSING',
      `the embedded store needs the optional package chdb (${errorMessage(err).split('\n')[0]}); install it with "npm install chdb", or set clickhouse.url to use a ClickHouse server`,
    );
  }
}

/** How long a user's query waits after an insert for the sink's next insert. */
const STORE_GRACE_MS = 20;
/**
 * While inserts wait, users' queries get at most this share of the store's time: a query may go
 * ahead of a waiting insert once the inserts have paid off the time inserts waited for the queries
 * before it (each ms of insert pays QUERY_SHARE / (1 − QUERY_SHARE) ms of it). Nothing is banked.
 */
const QUERY_SHARE = 0.2;

export class ChdbTransport implements Transport {
  readonly kind = 'embedded' as const;
  readonly target: string;
  private session: ChdbSession | undefined;
  private spoolSeq = 0;
  readonly spoolDir: string;

  constructor(private readonly path: string) {
    this.target = path;
    this.spoolDir = join(path, 'spool');
  }

  private open(): ChdbSession {
    if (!this.session) {
      mkdirSync(this.spoolDir, { recursive: true });
      const chdb = loadChdb();
      this.session = new chdb.Session(this.path, { installSignalHandlers: false });
    }
    return this.session;
  }

  /**
   * One chDB call at a time, in two lanes. Inserts and DDL ("store") go first; a user's query that
   * waits goes between two inserts once the store has earned it its share (QUERY_SHARE): a light
   * query waits for at most the insert already running, however long the sink's backlog, while
   * heavy queries back to back hold at most a fifth of a busy store's time. With no insert waiting
   * (after a short grace for the sink's next one), queries run freely.
   */
  private serial<T>(fn: () => Promise<T>, lane: 'store' | 'query' = 'store'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (lane === 'store' && this.lanes.store.length === 0) this.storeWaitingSince = performance.now();
      this.lanes[lane].push(() => fn().then(resolve, reject));
      this.pump();
    });
  }

  private readonly lanes: Record<'store' | 'query', Array<() => Promise<void>>> = { store: [], query: [] };
  private busy = false;
  private lastLane: 'store' | 'query' | undefined;
  private grace: NodeJS.Timeout | undefined;
  /** The time inserts waited for queries not yet paid off by inserts, in ms. */
  private queryDebt = 0;
  /** Since when the store lane has not been empty. */
  private storeWaitingSince = 0;
  /** How long each lane has held the store, in ms. */
  readonly heldMs = { store: 0, query: 0 };

  private pump(): void {
    if (this.busy) return;
    let lane: 'store' | 'query';
    if (this.lanes.store.length > 0) lane = this.lanes.query.length > 0 && this.queryDebt === 0 ? 'query' : 'store';
    else if (this.lanes.query.length > 0) {
      // Right after an insert the sink sends its next one within a few ms: wait that long before
      // deciding that the store is idle (then nothing is owed), so heavy queries back to back stay
      // within their share of a busy store (measured with strict turns: 0.6 s queries let one
      // 200 ms chunk in per query, and the store fell behind by seconds).
      if (this.lastLane === 'store') {
        this.grace ??= setTimeout(() => {
          this.grace = undefined;
          this.lastLane = undefined;
          this.pump();
        }, STORE_GRACE_MS);
        return;
      }
      this.queryDebt = 0;
      lane = 'query';
    } else return;
    clearTimeout(this.grace);
    this.grace = undefined;
    const next = this.lanes[lane].shift()!;
    this.lastLane = lane;
    this.busy = true;
    const t0 = performance.now();
    void next().finally(() => {
      const now = performance.now();
      const ms = now - t0;
      this.heldMs[lane] += ms;
      // A query owes only the time an insert waited for it.
      if (lane === 'query') this.queryDebt += this.lanes.store.length > 0 ? now - Math.max(t0, this.storeWaitingSince) : 0;
      else this.queryDebt = Math.max(0, this.queryDebt - (ms * QUERY_SHARE) / (1 - QUERY_SHARE));
      this.busy = false;
      this.pump();
    });
  }

  private call(sql: string, format: string, lane: 'store' | 'query' = 'store'): Promise<ChdbResult> {
    return this.serial(async () => {
      try {
        return await this.open().queryAsync(sql, { format });
      } catch (err) {
        if (err instanceof FgError) throw err;
        throw new TransportError(errorMessage(err), 500);
      }
    }, lane);
  }

  async exec(sql: string, settings: Record<string, string | number> = {}): Promise<string> {
    const s = Object.entries(settings);
    const q = s.length ? `${sql} SETTINGS ${s.map(([k, v]) => `${k} = ${literal(v)}`).join(', ')}` : sql;
    return (await this.call(q, 'TabSeparated')).text();
  }

  async insert(table: string, body: InsertBody, settings: Record<string, string | number>): Promise<void> {
    let file = body.file;
    let own = false;
    if (!file) {
      file = join(this.spoolDir, `main-${process.pid}-${this.spoolSeq++}.rb`);
      own = true;
      await new Promise<void>((res, rej) => writeFile(file!, body.data, (e) => (e ? rej(e) : res())));
    }
    const s = Object.entries(settings).map(([k, v]) => `${k} = ${literal(v)}`);
    const sql = `INSERT INTO ${table} SELECT * FROM file(${literal(file)}, 'RowBinary', ${literal(body.structure)})${s.length ? ` SETTINGS ${s.join(', ')}` : ''}`;
    try {
      await this.call(sql, 'TabSeparated');
    } finally {
      // A worker's spool file stays for a retry; the sink removes it once the chunk is done.
      if (own) unlink(file, () => undefined);
    }
  }

  /**
   * A user's query: checked as text, then parsed by the engine itself (one statement; several are
   * refused), checked again as the engine normalised it, and that normalised text is what runs,
   * with readonly = 1 and the limits as its last settings.
   */
  async query(sql: string, format: string, limits: QueryLimits): Promise<Buffer> {
    checkFormat(format);
    const text = checkReadOnly(sql);
    let parsed: string;
    try {
      parsed = (await this.call(`SELECT formatQuerySingleLine(${literal(text)}) SETTINGS readonly = 1`, 'TabSeparatedRaw', 'query')).text().trim();
    } catch (err) {
      throw new TransportError(
        `the store's parser refused it: ${
          errorMessage(err)
            .replace(/^Query failed: /, '')
            .split('\n')[0]
        }`,
        400,
      );
    }
    const one = checkReadOnly(parsed);
    const q = `${one} SETTINGS readonly = 1, max_threads = 1, max_execution_time = ${Math.ceil(limits.timeoutMs / 1000)}, max_memory_usage = ${limits.maxMemory}`;
    const r = await this.call(q, format, 'query');
    return Buffer.from(r.bytes());
  }

  async close(): Promise<void> {
    await this.serial(() => {
      this.session?.close();
      this.session = undefined;
      return Promise.resolve();
    });
  }
}

function literal(v: string | number): string {
  return typeof v === 'number' ? String(v) : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
