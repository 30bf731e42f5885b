import { selectSchema } from '../../core/glob.js';
import {
  array,
  bool,
  bytes,
  duration,
  entryPos,
  int,
  object,
  oneOf,
  oneOrMany,
  optional,
  readNamedFile,
  secretOf,
  str,
  type Infer,
} from '../../core/schema.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const URL_RE = /^https?:\/\/[^\s/]+(\/.*)?$/;

export const clickhouseSchema = object(
  {
    url: optional(
      str({
        description: 'A ClickHouse server over HTTP(S). Leave out for the embedded store (chDB) under state_dir/store.',
        pattern: URL_RE,
        expected: 'an http:// or https:// URL such as http://127.0.0.1:8123',
        example: 'http://127.0.0.1:8123',
      }),
    ),
    urls: array(str({ description: 'One replica.', pattern: URL_RE, expected: 'an http:// or https:// URL such as http://ch-a:8123' }), {
      description:
        'Replicas of a cluster (or several servers holding the same tables): the sink inserts into one healthy replica of each shard and fails over to the next; a replica that refuses or times out rests for a backoff. Instead of url.',
      example: '[ "http://ch-a:8123", "http://ch-b:8123" ]',
    }),
    cluster: optional(
      str({
        description:
          "The cluster name in the servers' remote_servers: the DDL runs ON CLUSTER, rows go into <table>_local (ReplicatedMergeTree with the {shard} and {replica} macros) and <table> is a Distributed table over them.",
        pattern: IDENT,
        expected: 'a cluster name (letters, digits, _)',
        example: 'plant',
      }),
    ),
    insert_via: oneOf(['local', 'distributed'], {
      description:
        "With cluster: local inserts each chunk into the local table of one healthy replica of a shard (the chunk's shard is fixed by its id, so a retry after failover is deduplicated by that shard's replicas); distributed inserts through the Distributed table (insert_distributed_sync on; the server routes rows by device).",
      default: 'local',
    }),
    database: str({
      description: 'Database of the tables; created if missing when create_tables is on.',
      default: 'fieldgate',
      pattern: IDENT,
      expected: 'a database name (letters, digits, _)',
    }),
    table: str({
      description: 'The narrow points table: one row per value.',
      default: 'points',
      pattern: IDENT,
      expected: 'a table name (letters, digits, _)',
    }),
    user: str({ description: 'Server user.', default: 'default' }),
    password: optional(str({ description: 'Server password; prefer ${ENV} or password_file over writing it here.', example: '${CLICKHOUSE_PASSWORD}' })),
    password_file: optional(
      str({ description: 'A file whose content (without the trailing newline) is the password.', example: '/etc/fieldgate/clickhouse.pass' }),
    ),
    tls_ca_file: optional(str({ description: 'PEM file of the CA that signed the server certificate (https).', example: '/etc/fieldgate/ca.pem' })),
    init_sql: array(str({ description: 'One statement.', minLength: 1 }), {
      description:
        'Statements run after the points table is created (create_tables on), on every connect, so write IF NOT EXISTS: custom tables and views, also in the embedded store.',
      example: '- "CREATE TABLE IF NOT EXISTS fieldgate.machine_status (line String, state String, at DateTime64(3)) ENGINE = MergeTree ORDER BY (line, at)"',
    }),
    create_tables: bool({
      description:
        'Create the database and tables on first connect (DDL adapted to the server version). When off, a missing table is a fatal error for the sink.',
      default: true,
    }),
    ttl: duration({
      description:
        'Rows older than this are deleted by the table TTL (servers from 20.x and the embedded store; set when the table is created). 0d keeps rows forever.',
      default: 90 * 86_400_000,
      defaultText: '90d',
      min: 0,
    }),
    rollups: bool({
      description:
        'Keep 1-minute and 1-hour rollups per device and tag (<table>_1m, <table>_1h: min, max, avg, last, count of the good numeric values), filled by materialized views as rows are inserted; charts over long ranges read them. Created with the points table; they start empty (rows stored before they existed are not rolled up).',
      default: true,
    }),
    retention: object(
      {
        raw: optional(duration({ description: 'Rows of the points table are deleted after this (instead of ttl).', example: '90d', min: 0 })),
        minute: duration({ description: 'The 1-minute rollup keeps this long. 0d keeps it forever.', default: 365 * 86_400_000, defaultText: '1y', min: 0 }),
        hour: duration({ description: 'The 1-hour rollup keeps this long. 0d keeps it forever.', default: 5 * 365 * 86_400_000, defaultText: '5y', min: 0 }),
      },
      {
        description:
          'How long each table keeps its rows, by the table TTL (servers from 20.x and the embedded store; set when the tables are created). Older servers keep rows until you drop partitions.',
      },
    ),
    dedup_window: int({
      description:
        'Insert tokens a table remembers for deduplication (non_replicated_deduplication_window): how many chunks a replay can go back and still be exactly-once.',
      default: 10_000,
      min: 0,
    }),
    request_timeout: duration({ description: 'Time limit of one insert or DDL request.', default: 60_000, defaultText: '60s', min: 100 }),
    retry_initial: duration({
      description: 'First delay after a failed insert; doubles up to retry_max, with jitter.',
      default: 500,
      defaultText: '500ms',
      min: 1,
    }),
    retry_max: duration({ description: 'Longest delay between retries.', default: 30_000, defaultText: '30s', min: 1 }),
    query_timeout: duration({
      description: 'Time limit of a query run through the gateway (fieldgate query, POST /query).',
      default: 30_000,
      defaultText: '30s',
      min: 100,
    }),
    query_max_memory: bytes({
      description: 'Memory limit of a query run through the gateway.',
      default: 512 * 1024 * 1024,
      defaultText: '512MiB',
      min: 1024 * 1024,
    }),
    embedded_max_memory: bytes({
      description: "Memory limit of each insert into the embedded store (chDB runs in the gateway's process; queries have query_max_memory).",
      default: 1024 ** 3,
      defaultText: '1GiB',
      min: 16 * 1024 * 1024,
    }),
    deadletter_max_bytes: bytes({
      description: 'Size cap of state_dir/deadletter (rows the store rejected); the oldest file goes first, counted.',
      default: 64 * 1024 * 1024,
      defaultText: '64MiB',
      min: 4096,
    }),
  },
  {
    description: 'Where rows go: the embedded ClickHouse (chDB) by default, or a ClickHouse server.',
    check(v, loc, path, issues) {
      if (v.password !== undefined && v.password_file !== undefined) {
        issues.push({ pos: loc.pos, path: `${path}.password_file`, message: 'give password or password_file, not both' });
      }
      if (v.url !== undefined && v.urls.length)
        issues.push({ pos: entryPos(loc, 'urls'), path: `${path}.urls`, message: 'give url (one server) or urls (replicas), not both' });
      if (v.url === undefined && !v.urls.length) {
        for (const key of ['password', 'password_file', 'tls_ca_file', 'cluster'] as const) {
          if (v[key] !== undefined)
            issues.push({
              pos: entryPos(loc, key),
              path: `${path}.${key}`,
              message: `${key} needs url or urls; the embedded store has no login and no cluster`,
            });
        }
        return;
      }
      if (v.insert_via === 'distributed' && v.cluster === undefined)
        issues.push({
          pos: entryPos(loc, 'insert_via'),
          path: `${path}.insert_via`,
          message: "distributed needs cluster (the Distributed table is made over the cluster's replicated tables)",
        });
      if (new Set(v.urls).size !== v.urls.length) issues.push({ pos: entryPos(loc, 'urls'), path: `${path}.urls`, message: 'a URL is listed twice' });
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

/** The servers of a sink: its replicas, or its one server; empty for the embedded store. */
export function serverUrls(c: ClickHouseConfig): string[] {
  return c.urls.length ? c.urls : c.url ? [c.url] : [];
}

export const SINK_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export const sinkSchema = object(
  {
    name: str({
      description: 'The label in metrics (sink), logs, /readyz and the cursor file (cursors/<name>.json).',
      pattern: SINK_NAME_RE,
      expected: 'up to 64 letters, digits, _ or -',
    }),
    clickhouse: clickhouseSchema,
    select: optional(
      oneOrMany(selectSchema, {
        description:
          "An allow-list: this sink stores only the values a select names (one or a list); custom tables' rows go only to sinks without select. Leave out for everything.",
        example: '{ device: "press*" }',
      }),
    ),
  },
  { description: 'One store the journal is delivered to, with its own cursor, retries and readiness.', required: ['name'] },
);
export type SinkConfig = Infer<typeof sinkSchema>;

export const sinksSchema = array(sinkSchema, {
  description:
    'Several stores, each a journal consumer of its own (one down never holds up another): e.g. the embedded store on the box for local history, and a central cluster. Leave out for the one store of `clickhouse:`.',
  commentedExample: true,
  example:
    '- { name: local, clickhouse: { } }\n- name: central\n  clickhouse: { urls: [ "http://ch-a:8123", "http://ch-b:8123" ], cluster: plant, user: fieldgate }   # password_file: /etc/fieldgate/ch.pass\n  select: { device: "*" }',
});
