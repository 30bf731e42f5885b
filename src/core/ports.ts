import type { Point } from './records.js';

export type { Point };

/** Bytes appended but not yet committed past which sources wait (the broker withholds reads, pollers skip). */
export const MAX_UNCOMMITTED = 32 * 1024 * 1024;

/**
 * The small interfaces through which pipeline/ wires components that do not
 * import each other.
 */

/** What the broker and the pollers need of the journal. */
export interface JournalPort {
  /** Appends an MQTT message to the in-memory tail; durable after the next commit. */
  appendMqtt(receivedMs: number, qos: number, topic: string, clientId: string, body: Buffer): void;
  /** Appends a polled value (Modbus, OPC UA). */
  appendPoint(receivedMs: number, p: Point): void;
  /** Appends a Sparkplug B edge node's alias table. */
  appendBirth(receivedMs: number, state: Buffer): void;
  /** The id of the chunk the next record lands in. */
  readonly openChunkId: number;
  /**
   * Calls `cb` once everything appended so far is committed. A failed write is retried until it
   * succeeds, so `cb` waits meanwhile; it is never called with an error today.
   */
  whenCommitted(cb: (err?: Error | null) => void): void;
  /** Calls `listener` after every group commit with the committed position. */
  onCommit(listener: (committed: number) => void): void;
  readonly endPosition: number;
  readonly committedPosition: number;
  /** Where the batch being filled starts: whatever is appended past it is committed by one write. */
  readonly batchStart: number;
  readonly uncommittedBytes: number;
  /** True while `on_full: block` withholds acceptance. */
  readonly blocked: boolean;
  /** Calls `cb` once the journal accepts again. */
  whenUnblocked(cb: () => void): void;
}

/** One table's rows as a worker encoded them (RowBinary), where each row starts and which record it came from. */
export interface TableRows {
  table: string;
  /** The rows' RowBinary; empty when they went to a spool file instead (then `spooledBytes` is set). */
  data: Buffer;
  /** The size of the spool file the worker wrote these rows to (the embedded store's file() insert). */
  spooledBytes?: number;
  rows: number;
  rowStarts: Uint32Array;
  rowRecords: Uint32Array;
}

/** What the sink is given per chunk: the worker's tables, and what dead letters need. */
export interface ChunkTables {
  chunkId: number;
  tables: TableRows[];
  /** Where each record starts in the chunk. */
  recordStarts: Uint32Array;
  /** Files of RowBinary the worker wrote for the embedded store's file() inserts. */
  spooled: string[];
  firstReceived: number;
  lastReceived: number;
  /** Records the worker could not fit into their custom table's columns. */
  letters?: Array<{ record: number; table: string; reason: string }>;
}

/** What a poller (Modbus, OPC UA) needs of the journal. */
export interface PointSink {
  appendPoint(receivedMs: number, p: Point): void;
  /** True while the journal withholds acceptance (on_full: block, a low disk) or cannot commit: values are not appended. */
  readonly blocked: boolean;
}

export type SinkState = 'starting' | 'connected' | 'buffering' | 'failing';

/**
 * What the runner (pipeline/runner.ts) needs of a store: the ClickHouse sink is one; another kind
 * of store implements this and is built in Gateway.startSink. Its waits end with `SinkStopped`.
 */
export interface ChunkSink {
  readonly name: string;
  readonly state: SinkState;
  /** When the sink last finished a request, good or bad (the loop's heartbeat). */
  readonly lastActivityAt: number;
  /** Column types of the custom tables the workers encode for (read from the store). */
  readonly tableSchemas: Record<string, Record<string, string>>;
  /** This sink's selection and the gateway_id column's value, for the workers. */
  readonly encodeOptions: { select?: Array<{ device: string; tag: string }>; gateway?: string };
  /** Connects (and creates tables); retries until it works or stop(). */
  connect(): Promise<unknown>;
  /** Stores every table of a chunk (or dead-letters the rows the store refuses). */
  insertChunk(c: ChunkTables): Promise<void>;
  /** A chunk the workers could not encode: its records go to the dead letters; returns how many. */
  deadLetterChunk(chunkId: number, bytes: Buffer, reason: string): Promise<number>;
  /** Interrupts waits. */
  stop(): void;
}

/** A sink's wait ended by stop(): the runner ends its loop instead of retrying. */
export class SinkStopped extends Error {
  constructor() {
    super('sink stopped');
  }
}

export interface SinkStatus {
  name: string;
  state: SinkState;
  lastError?: string;
  lagBytes: number;
  lagChunks: number;
}

/** One value a partner's send entry selected (worker → outbox); `entry` is the index of that entry. */
export interface SharedValue {
  entry: number;
  /** Index of the value in its chunk (0, 1, …): with the chunk id it names the value for good. */
  seq: number;
  ts: number;
  device: string;
  tag: string;
  value: number;
  text: string;
  quality: number;
}

/** What a worker selects for a partner: per send entry, its selects (device and tag globs). */
export interface ShareSpec {
  entries: Array<Array<{ device: string; tag: string }>>;
}

/** A chunk's values as a partner's send entries selected them. */
export interface ShareResult {
  values: SharedValue[];
  firstReceived: number;
  lastReceived: number;
}
