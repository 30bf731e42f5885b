import { array, bool, bytes, duration, entryPos, int, object, optional, readNamedFile, secretOf, str, type Infer } from '../../core/schema.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const clickhouseSchema = object(
  {
    url: optional(str({ description: 'A ClickHouse server over HTTP(S). Leave out for the embedded store (chDB) under state_dir/store.', pattern: /^https?:\/\/[^\s/]+(\/.*)?$/, expected: 'an http:// or https:// URL such as http://127.0.0.1:8123', example: 'http://127.0.0.1:8123' })),
    database: str({ description: 'Database of the tables; created if missing when create_tables is on.', default: 'fieldgate', pattern: IDENT, expected: 'a database name (letters, digits, _)' }),
    table: str({ description: 'The narrow points table: one row per value.', default: 'points', pattern: IDENT, expected: 'a table name (letters, digits, _)' }),
    user: str({ description: 'Server user.', default: 'default' }),
    password: optional(str({ description: 'Server password; prefer ${ENV} or password_file over writing it here.', example: '${CLICKHOUSE_PASSWORD}' })),
    password_file: optional(str({ description: 'A file whose content (without the trailing newline) is the password.', example: '/etc/fieldgate/clickhouse.pass' })),
    tls_ca_file: optional(str({ description: 'PEM file of the CA that signed the server certificate (https).', example: '/etc/fieldgate/ca.pem' })),
    init_sql: array(str({ description: 'One statement.', minLength: 1 }), { description: 'Statements run after the points table is created (create_tables on), on every connect, so write IF NOT EXISTS: custom tables and views, also in the embedded store.', example: '- "CREATE TABLE IF NOT EXISTS fieldgate.machine_status (line String, state String, at DateTime64(3)) ENGINE = MergeTree ORDER BY (line, at)"' }),
    create_tables: bool({ description: 'Create the database and tables on first connect (DDL adapted to the server version). When off, a missing table is a fatal error for the sink.', default: true }),
    ttl: duration({ description: 'Rows older than this are deleted by the table TTL (servers from 20.x and the embedded store; set when the table is created). 0d keeps rows forever.', default: 90 * 86_400_000, defaultText: '90d', min: 0 }),
    dedup_window: int({ description: 'Insert tokens a table remembers for deduplication (non_replicated_deduplication_window): how many chunks a replay can go back and still be exactly-once.', default: 10_000, min: 0 }),
    request_timeout: duration({ description: 'Time limit of one insert or DDL request.', default: 60_000, defaultText: '60s', min: 100 }),
    retry_initial: duration({ description: 'First delay after a failed insert; doubles up to retry_max, with jitter.', default: 500, defaultText: '500ms', min: 1 }),
    retry_max: duration({ description: 'Longest delay between retries.', default: 30_000, defaultText: '30s', min: 1 }),
    query_timeout: duration({ description: 'Time limit of a query run through the gateway (fieldgate query, POST /query).', default: 30_000, defaultText: '30s', min: 100 }),
    query_max_memory: bytes({ description: 'Memory limit of a query run through the gateway.', default: 512 * 1024 * 1024, defaultText: '512MiB', min: 1024 * 1024 }),
    embedded_max_memory: bytes({ description: 'Memory limit of each insert into the embedded store (chDB runs in the gateway\'s process; queries have query_max_memory).', default: 1024 ** 3, defaultText: '1GiB', min: 16 * 1024 * 1024 }),
    deadletter_max_bytes: bytes({ description: 'Size cap of state_dir/deadletter (rows the store rejected); the oldest file goes first, counted.', default: 64 * 1024 * 1024, defaultText: '64MiB', min: 4096 }),
  },
  {
    description: 'Where rows go: the embedded ClickHouse (chDB) by default, or a ClickHouse server.',
    check(v, loc, path, issues) {
      if (v.password !== undefined && v.password_file !== undefined) {
        issues.push({ pos: loc.pos, path: `${path}.password_file`, message: 'give password or password_file, not both' });
      }
      if (v.url === undefined) {
        for (const key of ['password', 'password_file', 'tls_ca_file'] as const) {
          if (v[key] !== undefined) issues.push({ pos: entryPos(loc, key), path: `${path}.${key}`, message: `${key} needs clickhouse.url; the embedded store has no login` });
        }
        return;
      }
      for (const key of ['password_file', 'tls_ca_file'] as const) {
        const file = v[key];
        if (file === undefined) continue;
        // The secret is read here, once.
        const text = readNamedFile(file, loc, key, path, issues);
        if (key === 'password_file' && text !== undefined) v.password = secretOf(text);
      }
    },
  },
);
export type ClickHouseConfig = Infer<typeof clickhouseSchema>;
