import { duration, int, object, type Infer } from '../core/schema.js';

export const workersSchema = object(
  {
    threads: int({ description: 'Worker threads that decode and encode chunks; 0 means one less than the cores, at least 1.', default: 0, min: 0, max: 64 }),
    encode_timeout: duration({
      description:
        "Longest a worker may spend on one chunk; past it the worker is stopped and, after retries, the chunk's records go to the dead letters with the reason (a pathological payload must not hold every chunk behind it).",
      default: 30_000,
      defaultText: '30s',
      min: 100,
    }),
  },
  { description: 'The worker pool (piscina).' },
);
export type WorkersConfig = Infer<typeof workersSchema>;

export const shutdownSchema = object(
  {
    timeout: duration({
      description: 'On SIGTERM/SIGINT, how long in-flight inserts may take before the process exits anyway (the journal keeps what was not acknowledged).',
      default: 10_000,
      defaultText: '10s',
      min: 0,
    }),
  },
  { description: 'Stopping.' },
);
export type ShutdownConfig = Infer<typeof shutdownSchema>;
