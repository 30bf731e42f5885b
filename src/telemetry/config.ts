import { duration, int, listenAddress, object, oneOf, type Infer } from '../core/schema.js';

export const httpSchema = object(
  {
    bind: listenAddress({
      description: 'Address of the HTTP server: /metrics, /healthz, /readyz, /status, and POST /query (answered on loopback only).',
      default: '127.0.0.1:9464',
    }),
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
  { description: 'The HTTP endpoint for Prometheus, health checks and queries.' },
);
export type HttpConfig = Infer<typeof httpSchema>;

export const logSchema = object(
  {
    level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      description: 'Least severe level written (JSON lines on stdout).',
      default: 'info',
    }),
  },
  { description: 'Logging.' },
);
export type LogConfig = Infer<typeof logSchema>;
