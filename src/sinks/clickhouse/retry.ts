/**
 * One pure function decides what a failed request means. It reads the
 * ClickHouse error code from both message formats:
 *   old servers:  "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist."
 *   new servers:  "Code: 60. DB::Exception: Table x does not exist. (UNKNOWN_TABLE) (version 24.3…)"
 */

export type Decision =
  /** Transient: wait with backoff and send the same request again. */
  | 'retry'
  /** An idle keep-alive socket the server closed: send again at once, not an outage. */
  | 'retry_now'
  /** The table or database is gone: run the DDL again, then retry (create_tables on). */
  | 'recreate'
  /** The server refused rows of this request: split it and dead-letter the bad rows. */
  | 'reject_rows'
  /** Configuration or permission: the sink reports failing and retries slowly until fixed. */
  | 'fatal';

export interface FailedRequest {
  message: string;
  /** HTTP status, when there was a response. */
  status?: number;
  /** Node system error code (ECONNRESET, ECONNREFUSED …). */
  sysCode?: string;
  /** How many times this request was tried before (0: the first try, which may have met a keep-alive socket the server had closed). */
  attempt?: number;
  createTables?: boolean;
}

export interface Classified {
  decision: Decision;
  /** Bounded label for metrics. */
  reason: string;
  code?: number;
}

const ROW_ERRORS = new Set([6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 131, 190, 321, 349, 395, 469, 473]);
const FATAL_ERRORS = new Set([115, 164, 192, 193, 194, 195, 497, 516, 62, 47, 16, 10, 44]);
const MISSING = new Set([60, 81]);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function clickhouseCode(message: string): number | undefined {
  const m = /Code:\s*(\d+)[.,]/.exec(message);
  return m ? Number(m[1]) : undefined;
}

export function classify(f: FailedRequest): Classified {
  const code = clickhouseCode(f.message);
  if (code !== undefined) {
    if (MISSING.has(code)) return { decision: f.createTables ? 'recreate' : 'fatal', reason: code === 60 ? 'unknown_table' : 'unknown_database', code };
    if (ROW_ERRORS.has(code)) return { decision: 'reject_rows', reason: 'rows_rejected', code };
    if (FATAL_ERRORS.has(code)) return { decision: 'fatal', reason: (code >= 192 && code <= 195) || code === 516 || code === 497 ? 'auth' : 'config', code };
    // Any other server error (timeouts 159/209/210, memory 241, too many parts 252, ZooKeeper 999…): retry with backoff.
    return { decision: 'retry', reason: code === 252 ? 'too_many_parts' : 'server', code };
  }
  if (f.sysCode === 'ECONNRESET' && (f.attempt ?? 0) === 0) return { decision: 'retry_now', reason: 'keepalive_reset' };
  if (f.sysCode && NETWORK.has(f.sysCode)) return { decision: 'retry', reason: 'network' };
  if (/timeout|timed out|socket hang up|ECONNRESET|ECONNREFUSED/i.test(f.message)) return { decision: 'retry', reason: 'network' };
  if (f.status === 401 || f.status === 403) return { decision: 'fatal', reason: 'auth' };
  if (f.status === 404) return { decision: 'fatal', reason: 'config' };
  if (f.status !== undefined && f.status >= 500) return { decision: 'retry', reason: 'server' };
  if (f.status === 429 || f.status === 408) return { decision: 'retry', reason: 'server' };
  return { decision: 'retry', reason: 'unknown' };
}
