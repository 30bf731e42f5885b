import { describe, expect, it } from 'vitest';
import { classify, clickhouseCode, type FailedRequest } from '../../../src/sinks/clickhouse/retry.js';

const OLD = (code: number, text: string): string => `Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception`;
const NEW = (code: number, text: string, name: string): string => `Code: ${code}. DB::Exception: ${text}. (${name}) (version 24.3.1.1)`;

describe('retry classification', () => {
  it.each<[string, FailedRequest, string, string]>([
    [
      'old server, unknown table, create_tables on',
      { message: OLD(60, "Table fieldgate.points doesn't exist."), status: 404, createTables: true },
      'recreate',
      'unknown_table',
    ],
    [
      'new server, unknown table, create_tables off',
      { message: NEW(60, 'Table fieldgate.points does not exist', 'UNKNOWN_TABLE'), status: 404, createTables: false },
      'fatal',
      'unknown_table',
    ],
    [
      'unknown database',
      { message: NEW(81, "Database fieldgate doesn't exist", 'UNKNOWN_DATABASE'), status: 404, createTables: true },
      'recreate',
      'unknown_database',
    ],
    ['old server, wrong password', { message: OLD(193, 'Wrong password for user default'), status: 500 }, 'fatal', 'auth'],
    ['new server, authentication failed', { message: NEW(516, 'default: Authentication failed', 'AUTHENTICATION_FAILED'), status: 401 }, 'fatal', 'auth'],
    ['access denied', { message: NEW(497, 'default: Not enough privileges', 'ACCESS_DENIED'), status: 403 }, 'fatal', 'auth'],
    [
      'unknown setting (18.16 answers 115 to insert_deduplication_token)',
      { message: OLD(115, 'Unknown setting insert_deduplication_token'), status: 500 },
      'fatal',
      'config',
    ],
    ['too many parts', { message: NEW(252, 'Too many parts (300)', 'TOO_MANY_PARTS'), status: 500 }, 'retry', 'too_many_parts'],
    ['memory limit', { message: NEW(241, 'Memory limit (total) exceeded', 'MEMORY_LIMIT_EXCEEDED'), status: 500 }, 'retry', 'server'],
    ['old server, cannot parse', { message: OLD(27, 'Cannot parse input: expected \\t before: x'), status: 500 }, 'reject_rows', 'rows_rejected'],
    ['new server, type mismatch', { message: NEW(53, 'Type mismatch in VALUES', 'TYPE_MISMATCH'), status: 400 }, 'reject_rows', 'rows_rejected'],
    ['constraint violated', { message: NEW(469, 'Constraint `c` for table is violated', 'VIOLATED_CONSTRAINT'), status: 400 }, 'reject_rows', 'rows_rejected'],
    ['an unknown server error code', { message: NEW(1234, 'Something new', 'SOMETHING_NEW'), status: 500 }, 'retry', 'server'],
    ['connection refused', { message: 'connect ECONNREFUSED 127.0.0.1:8123', sysCode: 'ECONNREFUSED' }, 'retry', 'network'],
    ['idle keep-alive socket reset on first attempt', { message: 'socket hang up', sysCode: 'ECONNRESET', attempt: 0 }, 'retry_now', 'keepalive_reset'],
    ['reset again on the retry', { message: 'socket hang up', sysCode: 'ECONNRESET', attempt: 1 }, 'retry', 'network'],
    ['request timeout', { message: 'Timeout error.' }, 'retry', 'network'],
    ['HTTP 503 from a proxy', { message: 'Service Unavailable', status: 503 }, 'retry', 'server'],
    ['HTTP 401 without a code', { message: 'Unauthorized', status: 401 }, 'fatal', 'auth'],
    ['HTTP 404 without a code (wrong URL path)', { message: 'Not Found', status: 404 }, 'fatal', 'config'],
  ])('%s', (_name, req, decision, reason) => {
    expect(classify(req)).toMatchObject({ decision, reason });
  });

  it('reads the code from both message formats', () => {
    expect(clickhouseCode(OLD(60, 'x'))).toBe(60);
    expect(clickhouseCode(NEW(241, 'x', 'MEMORY_LIMIT_EXCEEDED'))).toBe(241);
    expect(clickhouseCode('no code here')).toBeUndefined();
  });
});
