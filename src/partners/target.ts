/** What the outbox needs of a link to a partner: an MQTT broker (target-mqtt.ts) or a webhook (target-webhook.ts). */
import type { OutMessage } from './format.js';

export interface SendResult {
  /** Messages and payload bytes the partner acknowledged. */
  messages: number;
  bytes: number;
  /** Messages the partner refused for good (a webhook's 4xx), with its answer: they go to the dead letters. */
  refused: Array<{ messages: OutMessage[]; reason: string }>;
}

/** A failed send or connect; `reason` is the metric label. */
export class LinkError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** The partner asked us to wait this long (Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** Already counted in fieldgate_partner_errors_total (a failed connect, counted once by the target). */
  counted = false;
}

export interface Target {
  readonly connected: boolean;
  /** Opens the link when it is not open; throws a LinkError when that fails. */
  connect(): Promise<void>;
  /** Sends the messages of one chunk; resolves once the partner acknowledged them all. `key` names the chunk for good (webhook batches derive their Idempotency-Key from it). `pace(n)` waits for n messages' turn. */
  send(msgs: OutMessage[], key: string, pace: (n: number) => Promise<void>): Promise<SendResult>;
  close(): Promise<void>;
}
