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
  /** Calls `cb` once everything appended so far is committed (or failed to commit). */
  whenCommitted(cb: (err?: Error | null) => void): void;
  /** Calls `listener` after every group commit with the committed position. */
  onCommit(listener: (committed: number) => void): void;
  readonly endPosition: number;
  readonly committedPosition: number;
  readonly uncommittedBytes: number;
  /** True while `on_full: block` withholds acceptance. */
  readonly blocked: boolean;
  /** Calls `cb` once the journal accepts again. */
  whenUnblocked(cb: () => void): void;
}

export type SinkState = 'starting' | 'connected' | 'buffering' | 'failing';

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
