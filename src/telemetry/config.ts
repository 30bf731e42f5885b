import { userSchema } from '../core/passwords.js';
import { array, bool, duration, entryPos, int, listenAddress, object, oneOf, optional, readNamedFile, str, type Infer } from '../core/schema.js';

/** Whether a bind address only answers on this machine. */
export function loopbackBind(bind: string): boolean {
  const host = bind.slice(0, bind.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export const httpSchema = object(
  {
    bind: listenAddress({
      description:
        'Address of the HTTP server: the web console at /, /metrics, /healthz, /readyz, /status, and POST /query (answered on loopback only). An address other than loopback needs users (or allow_anonymous).',
      default: '127.0.0.1:9464',
    }),
    users: array(userSchema, {
      description:
        'Who may open the console and /status (HTTP basic auth; hashes from `fieldgate passwd`, as for the broker). /metrics, /healthz and /readyz stay open for scrapers and probes. Replaying dead letters from the console needs a user.',
      example: '- { username: operator, password_hash: "$fg-scrypt$N=16384,r=8,p=1$RpCXzf0B6S5EsA+yqxNUFQ==$OmrVouhPH9PtmaBJlw+uufvFJWrvnmHy2JiT0X11r5E=" }',
    }),
    allow_anonymous: bool({
      description: 'Serve the console without users on an address other than loopback (a warning is logged: anyone who reaches the port sees the plant).',
      default: false,
    }),
    cert_file: optional(str({ description: 'PEM certificate (chain) for HTTPS; with key_file.', example: '/etc/fieldgate/http.crt' })),
    key_file: optional(str({ description: 'PEM private key for HTTPS.', example: '/etc/fieldgate/http.key' })),
    clickhouse_bind: optional(
      listenAddress({
        description:
          "Answer ClickHouse's HTTP interface for read-only queries against the first sink's store (the embedded one, for Grafana and ClickHouse clients), with the limits of POST /query. Off when left out. Users as for the console.",
        example: '127.0.0.1:8124',
      }),
    ),
    max_connections: int({
      description:
        "Connections the HTTP server holds at once; more are closed at once (scrapers and probes need a few; a flood of slow connections must not use up the process's file descriptors).",
      default: 64,
      min: 1,
      max: 10_000,
    }),
    headers_timeout: duration({
      description: 'A client that has not sent its request headers within this time is disconnected (slow clients cannot hold connections).',
      default: 10_000,
      defaultText: '10s',
      min: 100,
    }),
    request_timeout: duration({
      description: 'Longest a whole request may take, its answer included (above clickhouse.query_timeout).',
      default: 60_000,
      defaultText: '60s',
      min: 1000,
    }),
  },
  {
    description: 'The HTTP endpoint: the web console, Prometheus, health checks and queries.',
    check(v, loc, path, issues) {
      for (const key of ['bind', 'clickhouse_bind'] as const) {
        const b = v[key];
        if (b !== undefined && !loopbackBind(b) && !v.users.length && !v.allow_anonymous)
          issues.push({
            pos: entryPos(loc, key),
            path: `${path}.${key}`,
            message: `got ${b}: an address other than loopback needs users (fieldgate passwd) or allow_anonymous: true`,
          });
      }
      if ((v.cert_file === undefined) !== (v.key_file === undefined))
        issues.push({ pos: loc.pos, path: `${path}.${v.cert_file === undefined ? 'cert_file' : 'key_file'}`, message: 'give cert_file and key_file together' });
      for (const key of ['cert_file', 'key_file'] as const) if (v[key] !== undefined) readNamedFile(v[key], loc, key, path, issues);
    },
  },
);
export type HttpConfig = Infer<typeof httpSchema>;

export const logSchema = object(
  {
    level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      description: 'Least severe level written (on stdout).',
      default: 'info',
    }),
    format: oneOf(['auto', 'json', 'text'], {
      description:
        'json: one JSON object per line (journald, Docker, log shippers); text: short lines a person reads; auto: text when stdout is a terminal, json otherwise. `fieldgate run --log-format` overrides it.',
      default: 'auto',
    }),
  },
  { description: 'Logging.' },
);
export type LogConfig = Infer<typeof logSchema>;
