/** What the sink needs of a ClickHouse: the embedded engine and a server look the same. */

export interface InsertBody {
  /** RowBinary rows. */
  data: Buffer;
  /** The same rows already written to a file by a worker (embedded store only). */
  file?: string;
  /** Column structure of the RowBinary (for file() inserts). */
  structure: string;
  /** The chunk id: with replicas in several shards, it fixes the chunk's shard (the same on every retry). */
  route?: number;
}

export interface QueryLimits {
  timeoutMs: number;
  maxMemory: number;
}

export interface Transport {
  readonly kind: 'embedded' | 'http';
  /** A short name for logs: the URL without credentials, or the store path. */
  readonly target: string;
  /** Runs a statement; the result text (TabSeparated) is returned. */
  exec(sql: string, settings?: Record<string, string | number>): Promise<string>;
  insert(table: string, body: InsertBody, settings: Record<string, string | number>): Promise<void>;
  /** A read-only query with limits, for users; the result in `format`. */
  query(sql: string, format: string, limits: QueryLimits): Promise<Buffer>;
  close(): Promise<void>;
}

/** Error from a transport with what the retry classifier reads. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly sysCode?: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}
