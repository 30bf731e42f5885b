import { listenAddress, object, oneOf, type Infer } from '../core/schema.js';

export const httpSchema = object(
  {
    bind: listenAddress({ description: 'Address of the HTTP server: /metrics, /healthz, /readyz, /status, and POST /query (answered on loopback only).', default: '127.0.0.1:9464' }),
  },
  { description: 'The HTTP endpoint for Prometheus, health checks and queries.' },
);
export type HttpConfig = Infer<typeof httpSchema>;

export const logSchema = object(
  {
    level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { description: 'Least severe level written (JSON lines on stdout).', default: 'info' }),
  },
  { description: 'Logging.' },
);
export type LogConfig = Infer<typeof logSchema>;
