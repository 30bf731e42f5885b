/**
 * The ClickHouse sink: batch → request → transport → retry. It connects and
 * creates tables on its own (start never waits for it), inserts each chunk's
 * tables with a deduplication token, and splits a refused request to
 * dead-letter exactly the rows the server rejects.
 */
import { unlink } from 'node:fs';
import { open } from 'node:fs/promises';
import { Backoff } from '../../core/backoff.js';
import { Pause } from '../../core/pause.js';
import { errorMessage, systemCode } from '../../core/errors.js';
import { faultError, injectedFault } from '../../core/faults.js';
import { walkVerified } from '../../core/records.js';
import { SinkStopped, type ChunkSink, type ChunkTables, type SinkState, type SinkStatus } from '../../core/ports.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { ClickHouseConfig } from './config.js';
import { letterOf, type DeadLetter, type DeadLetters } from './deadletter.js';
import {
  addGatewayColumnDdl,
  ddlOptions,
  ddlTables,
  localTable,
  stagedInserts,
  stagingTable,
  parseVersion,
  pointsDdl,
  pointsStructure,
  quoteIdent,
  type PointsDdlOptions,
  type ServerFeatures,
} from './ddl.js';
import { ReplicaSet } from './replicas.js';
import type { Select } from '../../core/glob.js';
import { classify } from './retry.js';
import { TransportError, type Transport } from './transport.js';

export type { ChunkTables };

/** Reads the version and what the store supports; both the sink and `fieldgate ddl` use it. */
export async function detectFeatures(t: Transport): Promise<ServerFeatures> {
  const version = (await t.exec('SELECT version()')).trim();
  // Only "no such system table" (an old server) means absent: a network blip here must fail the
  // connect and be retried, not quietly turn the deduplication token off.
  const has = async (table: string, name: string): Promise<boolean> => {
    try {
      return (await t.exec(`SELECT count() FROM system.${table} WHERE name = '${name}'`)).trim() === '1';
    } catch (err) {
      if (/UNKNOWN_TABLE|Code: 60\b|doesn't exist|does not exist/i.test(errorMessage(err))) return false;
      throw err;
    }
  };
  return {
    version,
    ...parseVersion(version),
    dedupToken: await has('settings', 'insert_deduplication_token'),
    dedupWindow: await has('merge_tree_settings', 'non_replicated_deduplication_window'),
    embedded: t.kind === 'embedded',
  };
}

export interface SinkOptions {
  name: string;
  cfg: ClickHouseConfig;
  transport: Transport;
  metrics: Metrics;
  log: Logger;
  deadLetters: DeadLetters;
  /** The chunk's bytes again (for dead letters); undefined if the journal dropped it. */
  reread: (chunkId: number) => Promise<Buffer | undefined>;
  /** Custom tables (mqtt routes with table) and the columns the workers fill, in order. */
  customTables?: Record<string, string[]>;
  /**
   * Makes every deduplication token unique for the life of the store: the gateway's id and the
   * journal's identity (a reset journal starts its chunk ids at 1 again; two gateways share a server).
   */
  tokenPrefix: string;
  /** Written into the gateway_id column of every points row (when the table has it). */
  gatewayId: string;
  /** Only the values these name go to this sink (and no custom tables' rows). */
  select?: Select[];
}

export class ClickHouseSink implements ChunkSink {
  readonly name: string;
  state: SinkState = 'starting';
  lastError: string | undefined;
  features: ServerFeatures | undefined;
  /** When the sink last finished a request, good or bad (for the watchdog). */
  lastActivityAt = Date.now();
  private stopping = false;
  private readonly pause = new Pause();
  private readonly backoff: Backoff;
  /** Column types of the custom tables, read from system.columns at connect. */
  tableSchemas: Record<string, Record<string, string>> = {};
  /** The points table has the gateway_id column (a table made before it, whose ALTER failed, has not). */
  gatewayColumn = false;
  /** The points table's staging table existed at connect (see stagedInserts). */
  private staged = false;

  constructor(private readonly opts: SinkOptions) {
    this.name = opts.name;
    this.backoff = new Backoff(opts.cfg.retry_initial, opts.cfg.retry_max);
  }

  get embedded(): boolean {
    return this.opts.transport.kind === 'embedded';
  }

  status(lag: { bytes: number; chunks: number }): SinkStatus {
    return { name: this.name, state: this.state, ...(this.lastError ? { lastError: this.lastError } : {}), lagBytes: lag.bytes, lagChunks: lag.chunks };
  }

  /** Reads the server version and features, and runs the DDL; retries until it works or stop(). */
  async connect(): Promise<ServerFeatures> {
    for (;;) {
      this.checkStopped();
      try {
        const f = await this.detect();
        if (this.opts.transport instanceof ReplicaSet && this.opts.cfg.insert_via === 'local') await this.opts.transport.discover(this.opts.cfg.cluster);
        // Once made, the staging table stays in use (a server upgraded to insert tokens keeps its views on it).
        this.staged = (await this.tableColumns(localTable(stagingTable(this.opts.cfg.table), this.opts.cfg.cluster))) !== undefined;
        if (this.opts.cfg.create_tables) await this.createTables(f);
        await this.readPointsColumns(f);
        await this.readSchemas();
        this.features = f;
        this.setUp(true);
        this.opts.log.info({ sink: this.name, target: this.opts.transport.target, version: f.version, dedup_token: f.dedupToken }, 'clickhouse: connected');
        return f;
      } catch (err) {
        if (err instanceof SinkStopped) throw err;
        await this.failed(err, 0);
      }
    }
  }

  private detect(): Promise<ServerFeatures> {
    return detectFeatures(this.opts.transport);
  }

  private get ddlOptions(): PointsDdlOptions {
    return { ...ddlOptions(this.opts.cfg), staged: this.staged };
  }

  /** The points table as the sink writes it: with a cluster and local inserts, the replicated table behind the Distributed one. */
  private get pointsTable(): string {
    return this.opts.cfg.insert_via === 'local' ? localTable(this.opts.cfg.table, this.opts.cfg.cluster) : this.opts.cfg.table;
  }

  /** Where points rows are inserted: the points table, or its staging table where the server needs one (stagedInserts). */
  private insertTable(f: ServerFeatures): string {
    if (!stagedInserts(f, this.ddlOptions)) return this.pointsTable;
    const staging = stagingTable(this.opts.cfg.table);
    return this.opts.cfg.insert_via === 'local' ? localTable(staging, this.opts.cfg.cluster) : staging;
  }

  /** A table's columns and their types (system.columns); empty when the table does not exist. */
  private async columnTypes(table: string): Promise<Record<string, string>> {
    const q = (s: string) => s.replace(/'/g, "\\'");
    const text = await this.opts.transport.exec(
      `SELECT name, type FROM system.columns WHERE database = '${q(this.opts.cfg.database)}' AND table = '${q(table)}'`,
    );
    const cols: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const [name, type] = line.split('\t');
      if (name && type) cols[name] = type.replace(/\\'/g, "'");
    }
    return cols;
  }

  /** A table's column names; undefined when the table does not exist. */
  private async tableColumns(table: string): Promise<string[] | undefined> {
    const cols = Object.keys(await this.columnTypes(table));
    return cols.length ? cols : undefined;
  }

  private async createTables(f: ServerFeatures): Promise<void> {
    // ON CLUSTER DDL waits for every replica (distributed_ddl_task_timeout): with one down, tables
    // that are there already must not keep the sink from connecting.
    let there = !!this.opts.cfg.cluster;
    if (there) for (const t of ddlTables(f, this.ddlOptions)) there = there && (await this.tableColumns(t)) !== undefined;
    if (!there) for (const sql of pointsDdl(f, this.ddlOptions)) await this.opts.transport.exec(sql);
    for (const sql of this.opts.cfg.init_sql) await this.opts.transport.exec(sql);
  }

  /** Whether the points table has gateway_id; one made before the column gets it (create_tables on) where the server allows. */
  private async readPointsColumns(f: ServerFeatures): Promise<void> {
    let cols = await this.tableColumns(this.pointsTable);
    if (cols && !cols.includes('gateway_id') && this.opts.cfg.create_tables) {
      try {
        for (const sql of addGatewayColumnDdl(f, this.ddlOptions)) await this.opts.transport.exec(sql);
        this.opts.log.info({ sink: this.name, table: this.pointsTable }, 'clickhouse: added the gateway_id column to the points table');
      } catch (err) {
        this.opts.log.warn(
          { sink: this.name, table: this.pointsTable, err: errorMessage(err).split('\n')[0] },
          'clickhouse: could not add the gateway_id column; rows are written without it',
        );
      }
      cols = await this.tableColumns(this.pointsTable);
    }
    this.gatewayColumn = cols?.includes('gateway_id') ?? false;
  }

  /** What the workers need to encode for this sink: its selection and the gateway_id column's value. */
  get encodeOptions(): { select?: Select[]; gateway?: string } {
    return { ...(this.opts.select ? { select: this.opts.select } : {}), ...(this.gatewayColumn ? { gateway: this.opts.gatewayId } : {}) };
  }

  /** Custom tables are the user's: their column types are read, never created or changed. */
  private async readSchemas(): Promise<void> {
    for (const table of Object.keys(this.opts.customTables ?? {})) {
      const cols = await this.columnTypes(table);
      if (Object.keys(cols).length) this.tableSchemas[table] = cols;
      else
        this.opts.log.error(
          { sink: this.name, table, database: this.opts.cfg.database },
          'clickhouse: custom table not found; its rows go to the dead letters until it exists (restart after creating it)',
        );
    }
  }

  private tableName(table: string): string {
    if (table !== 'points' && this.opts.customTables?.[table]) {
      return `${quoteIdent(this.opts.cfg.database)}.${quoteIdent(table)} (${this.opts.customTables[table].map(quoteIdent).join(', ')})`;
    }
    const name = table === 'points' ? this.insertTable(this.features!) : table;
    return `${quoteIdent(this.opts.cfg.database)}.${quoteIdent(name)}`;
  }

  private structure(table: string, f: ServerFeatures): string {
    const cols = table !== 'points' ? this.opts.customTables?.[table] : undefined;
    if (!cols) return pointsStructure(f, this.gatewayColumn);
    return cols.map((c) => `${quoteIdent(c)} ${this.tableSchemas[table]?.[c] ?? 'String'}`).join(', ');
  }

  /** Inserts every table of a chunk; returns once all are stored or dead-lettered. */
  async insertChunk(c: ChunkTables): Promise<void> {
    this.letters = { chunk: c.chunkId, bytes: undefined, list: [] };
    try {
      for (const l of c.letters ?? []) await this.deadLetterRecord(c, l.table, l.record, l.reason);
      for (let i = 0; i < c.tables.length; i++) {
        const t = c.tables[i];
        const token = `${this.opts.tokenPrefix}:${this.name}:${c.chunkId}:${t.table}`;
        await this.insertRange(c, t, 0, t.rows, token, c.spooled[i]);
      }
      // Written once everything else of the chunk is stored: a chunk retried later (stop, crash) writes them then.
      await this.opts.deadLetters.write(this.name, this.letters.list);
      const now = Date.now();
      if (c.tables.length > 0) {
        this.opts.metrics.endToEndSeconds.observe({ sink: this.name }, Math.max(0, now - c.firstReceived) / 1000);
        this.opts.metrics.endToEndSeconds.observe({ sink: this.name }, Math.max(0, now - c.lastReceived) / 1000);
      }
    } finally {
      for (const f of c.spooled) unlink(f, () => undefined);
    }
  }

  private async insertRange(
    c: ChunkTables,
    t: ChunkTables['tables'][number],
    from: number,
    to: number,
    token: string,
    file: string | undefined,
  ): Promise<void> {
    // Spooled rows are only in their file: without it an insert would be empty, and they lost.
    if (t.spooledBytes !== undefined && !file) throw new Error(`chunk ${c.chunkId}: the rows of ${t.table} were spooled, and their file is not known`);
    const whole = from === 0 && to === t.rows;
    const end = to < t.rows ? t.rowStarts[to] : (t.spooledBytes ?? t.data.length);
    // A part of spooled rows (a refused chunk being split) is read back from the worker's file.
    const data = whole ? t.data : t.spooledBytes !== undefined ? await readRange(file!, t.rowStarts[from], end) : t.data.subarray(t.rowStarts[from], end);
    const features = this.features!;
    let attempt = 0;
    for (;;) {
      this.checkStopped();
      const settings = insertSettings(features, this.opts.cfg, token);
      const t0 = process.hrtime.bigint();
      try {
        const f = injectedFault('sink_request');
        if (f) throw faultError(f, 'insert');
        await this.opts.transport.insert(
          this.tableName(t.table),
          { data, ...(whole && file ? { file } : {}), structure: this.structure(t.table, features), route: c.chunkId },
          settings,
        );
        this.opts.metrics.sinkInsertSeconds.observe({ sink: this.name }, Number(process.hrtime.bigint() - t0) / 1e9);
        this.opts.metrics.sinkInserts.inc({ sink: this.name, outcome: 'ok' });
        this.opts.metrics.sinkRowsInserted.inc({ sink: this.name, table: t.table }, to - from);
        this.setUp(true);
        return;
      } catch (err) {
        const k = classify({
          message: errorMessage(err),
          status: err instanceof TransportError ? err.status : undefined,
          sysCode: err instanceof TransportError ? err.sysCode : systemCode(err),
          attempt,
          createTables: this.opts.cfg.create_tables,
        });
        if (k.decision === 'reject_rows') {
          this.opts.metrics.sinkInserts.inc({ sink: this.name, outcome: 'rejected' });
          if (to - from === 1) return this.deadLetter(c, t, from, errorMessage(err));
          const mid = from + Math.floor((to - from) / 2);
          await this.insertRange(c, t, from, mid, `${token}:${from}-${mid}`, file);
          await this.insertRange(c, t, mid, to, `${token}:${mid}-${to}`, file);
          return;
        }
        if (k.decision === 'retry_now') {
          attempt++;
          this.opts.metrics.sinkRetries.inc({ sink: this.name, reason: k.reason });
          continue;
        }
        if (k.decision === 'recreate') {
          // Once at once; again only after a backoff (a table that keeps vanishing must not spin DDL).
          if (attempt > 0) await this.failed(err, attempt);
          this.checkStopped();
          this.opts.log.warn({ sink: this.name, err: errorMessage(err) }, 'clickhouse: table missing; creating it again');
          try {
            await this.createTables(features);
          } catch (e) {
            await this.failed(e, attempt);
          }
          attempt++;
          continue;
        }
        await this.failed(err, attempt);
        attempt++;
      }
    }
  }

  /** Records a failure, sets the state, waits the backoff (interrupted by stop). */
  private async failed(err: unknown, attempt: number): Promise<void> {
    const msg = errorMessage(err);
    const k = classify({
      message: msg,
      status: err instanceof TransportError ? err.status : undefined,
      sysCode: err instanceof TransportError ? err.sysCode : systemCode(err),
      attempt: attempt + 1,
      createTables: this.opts.cfg.create_tables,
    });
    const code = err instanceof Error && 'code' in err ? (err as { code: unknown }).code : undefined;
    const fatal = k.decision === 'fatal' || code === 'FG_E_CHDB_MISSING' || code === 'FG_E_CONFIG';
    this.opts.metrics.sinkInserts.inc({ sink: this.name, outcome: 'error' });
    this.opts.metrics.sinkRetries.inc({ sink: this.name, reason: k.reason });
    const wasUp = this.state === 'connected';
    this.setUp(false);
    this.state = fatal ? 'failing' : 'buffering';
    const first = this.lastError !== msg || wasUp;
    this.lastError = msg.split('\n')[0].slice(0, 500);
    const delay = fatal ? this.opts.cfg.retry_max : this.backoff.next();
    if (first) {
      const fields = { sink: this.name, target: this.opts.transport.target, err: this.lastError, reason: k.reason, retry_ms: delay };
      if (fatal) this.opts.log.error(fields, 'clickhouse: request refused; fix the cause, values wait in the journal');
      else this.opts.log.warn(fields, 'clickhouse: unreachable or failing; values wait in the journal and are retried');
    }
    await this.pause.sleep(delay);
  }

  private setUp(up: boolean): void {
    this.lastActivityAt = Date.now();
    this.opts.metrics.sinkUp.set({ sink: this.name }, up ? 1 : 0);
    if (up) {
      if (this.state !== 'connected' && this.state !== 'starting') this.opts.log.info({ sink: this.name }, 'clickhouse: inserting again');
      this.state = 'connected';
      this.lastError = undefined;
      this.backoff.reset();
    }
  }

  private deadLetter(c: ChunkTables, t: ChunkTables['tables'][number], row: number, reason: string): Promise<void> {
    return this.deadLetterRecord(c, t.table, t.rowRecords[row], reason);
  }

  /** The letters of the chunk being inserted: written in one go before insertChunk returns. */
  private letters: { chunk: number; bytes: Buffer | undefined | null; list: DeadLetter[] } | undefined;

  private async deadLetterRecord(c: ChunkTables, table: string, rec: number, reason: string): Promise<void> {
    const batch = this.letters!;
    // The chunk's bytes are read back once per chunk, however many of its rows were refused.
    if (batch.bytes === undefined) batch.bytes = (await this.opts.reread(c.chunkId)) ?? null;
    const base = { at: new Date().toISOString(), sink: this.name, table, chunk: c.chunkId, reason: reason.split('\n')[0].slice(0, 1000) };
    batch.list.push((batch.bytes ? letterOf(batch.bytes, c.recordStarts[rec], base) : undefined) ?? { ...base, kind: 'mqtt', received: 0 });
    this.opts.metrics.sinkDeadLetterRows.inc({ sink: this.name, table });
    this.opts.log.warn({ sink: this.name, table, chunk: c.chunkId, reason: base.reason }, 'clickhouse: a row was refused and goes to the dead-letter folder');
  }

  /**
   * A chunk that could not be encoded (a worker that keeps failing or running over its time on it):
   * every intact record goes to the dead letters with the reason, so the chunks behind it move on
   * and nothing is dropped unseen. Returns the records written.
   */
  async deadLetterChunk(chunkId: number, bytes: Buffer, reason: string): Promise<number> {
    const base = { at: new Date().toISOString(), sink: this.name, table: 'points', chunk: chunkId, reason: reason.split('\n')[0].slice(0, 1000) };
    const letters: DeadLetter[] = [];
    walkVerified(bytes, 0, bytes.length, (_k, _s, _e, fs) => {
      const l = letterOf(bytes, fs, base);
      if (l) letters.push(l);
    });
    await this.opts.deadLetters.write(this.name, letters);
    this.opts.metrics.sinkDeadLetterRows.inc({ sink: this.name, table: 'points' }, letters.length);
    this.opts.log.error(
      { sink: this.name, chunk: chunkId, records: letters.length, reason: base.reason },
      'pipeline: a chunk could not be encoded; its records were written to the dead-letter folder',
    );
    return letters.length;
  }

  private checkStopped(): void {
    if (this.stopping) throw new SinkStopped();
  }

  /** Interrupts waits; the current request finishes or is abandoned by the caller's timeout. */
  stop(): void {
    this.stopping = true;
    this.pause.wake();
  }
}

/** The settings of one insert (bench/decode.js inserts with them too). */
export function insertSettings(
  features: ServerFeatures,
  cfg: Pick<ClickHouseConfig, 'embedded_max_memory' | 'cluster' | 'insert_via'>,
  token: string,
): Record<string, string | number> {
  const settings: Record<string, string | number> = {};
  // The rollups' views deduplicate by a token derived from it: a block the points table drops as a repeat is not rolled up again.
  if (features.dedupToken) Object.assign(settings, { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 });
  if (features.embedded) {
    settings.max_memory_usage = cfg.embedded_max_memory;
    // The rollups' two views run side by side: the lane is free ~20 % sooner for the next chunk
    // and users' queries (measured: 520 -> 400 ms per 500,000 rows, the same CPU).
    settings.parallel_view_processing = 1;
  }
  // Through the Distributed table: the insert returns once every shard has its rows (so a retry is deduplicated there, not queued twice).
  if (cfg.cluster && cfg.insert_via === 'distributed') settings.insert_distributed_sync = 1;
  return settings;
}

/** Bytes [start, end) of a file. */
async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.allocUnsafe(end - start);
    const { bytesRead } = await fh.read(b, 0, b.length, start);
    if (bytesRead !== b.length) throw new Error(`${path}: ${bytesRead} of ${b.length} bytes at ${start}`);
    return b;
  } finally {
    await fh.close();
  }
}
