/**
 * The one error catalogue. Codes are stable: operators grep logs for them and
 * scripts match on them, so a code is never renamed or reused.
 */
export const ErrorCodes = {
  FG_E_CONFIG: 'configuration is invalid',
  FG_E_CONFIG_READ: 'configuration file cannot be read',
  FG_E_STATE_LOCKED: 'state directory is in use by another fieldgate',
  FG_E_STATE_DIR: 'state directory cannot be made or written',
  FG_E_JOURNAL_CORRUPT: 'journal segment is corrupt',
  FG_E_JOURNAL_VERSION: 'journal segment has an unsupported format version',
  FG_E_JOURNAL_CLOSED: 'journal is closed',
  FG_E_JOURNAL_STATE: 'the journal and its cursors disagree; fieldgate will not guess',
  FG_E_CHDB_MISSING: 'embedded ClickHouse (chdb) is not installed',
  FG_E_CLICKHOUSE: 'ClickHouse request failed',
  FG_E_QUERY: 'query failed',
  FG_E_USAGE: 'command line usage error',
  FG_E_LISTEN: 'cannot listen on address',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class FgError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FgError';
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A Node system error's code (ECONNRESET, ENOENT …), or undefined. */
export function systemCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
