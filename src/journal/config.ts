import { bytes, duration, entryPos, int, object, oneOf, type Infer } from '../core/schema.js';

export const journalSchema = object(
  {
    commit_interval: duration({
      description: 'Longest time an accepted value waits in memory before the group commit that makes it durable (and releases its PUBACK).',
      default: 20,
      defaultText: '20ms',
      min: 1,
    }),
    commit_bytes: bytes({
      description:
        'Commit early once this much is waiting in memory. commit_interval spares the card small fsyncs; a batch this large is worth its fsync at once, so a fast stream of QoS 1 publishers is not held to one window per commit_interval.',
      default: 128 * 1024,
      defaultText: '128KiB',
      min: 4096,
    }),
    fsync: oneOf(['always', 'interval', 'never'], {
      description:
        'always: fdatasync every group commit before acknowledging; interval: acknowledge after write(), fdatasync at most every fsync_interval; never: leave it to the OS (a power cut may lose acknowledged values).',
      default: 'always',
    }),
    fsync_interval: duration({ description: 'With fsync: interval, how often to fdatasync.', default: 1000, defaultText: '1s', min: 1 }),
    segment_bytes: bytes({
      description: 'A segment file is closed and a new one started once it passes this size (at the next chunk boundary).',
      default: 64 * 1024 * 1024,
      defaultText: '64MiB',
      min: 4096,
    }),
    max_bytes: bytes({
      description: 'Upper bound of the journal on disk. What happens when it is reached is on_full.',
      default: 1024 ** 3,
      defaultText: '1GiB',
      min: 8192,
    }),
    min_free_bytes: bytes({
      description:
        "Low-disk watermark of state_dir's filesystem: below it the journal stops growing (per on_full) and the embedded store pauses, before the card is full (fieldgate_disk_low). 0 turns the check off.",
      default: 256 * 1024 * 1024,
      defaultText: '256MiB',
      min: 0,
    }),
    on_full: oneOf(['drop_oldest', 'block'], {
      description:
        'What a full journal (max_bytes, or the disk below min_free_bytes) does. drop_oldest: delete the oldest segment even if a sink has not sent it (counted in fieldgate_journal_dropped_records_total); block: withhold PUBACKs and pause polling until there is room.',
      default: 'drop_oldest',
    }),
  },
  {
    description: 'The durable journal under state_dir/journal: every value is accepted once it is here, and only then.',
    check(v, loc, path, issues) {
      // Space is freed a whole segment at a time: a bound smaller than two segments could never free any.
      if (v.segment_bytes * 2 > v.max_bytes) {
        issues.push({
          pos: entryPos(loc, 'max_bytes'),
          path: `${path}.max_bytes`,
          message: `${v.max_bytes} bytes is less than two segments (segment_bytes ${v.segment_bytes}); expected at least ${v.segment_bytes * 2}`,
        });
      }
    },
  },
);
export type JournalConfig = Infer<typeof journalSchema>;

export const batchSchema = object(
  {
    max_rows: int({
      description:
        'A chunk (one insert per table) is cut after this many journal records. An MQTT message counts as one record however many values it carries.',
      default: 50_000,
      min: 1,
    }),
    max_bytes: bytes({ description: 'A chunk is cut once its records pass this size.', default: 16 * 1024 * 1024, defaultText: '16MiB', min: 1024 }),
    max_delay: duration({
      description: 'A chunk is cut at the latest this long after its first record: about one insert per second per table, as ClickHouse advises.',
      default: 1000,
      defaultText: '1s',
      min: 1,
    }),
    max_lag: duration({
      description:
        'Push back on MQTT publishers (withhold PUBACKs and stop reading their sockets, as on_full: block does) while a connected ClickHouse sink is more than this far behind and falling further behind: publish-to-queryable latency stays near this bound instead of a backlog of minutes. A backlog left by an outage drains without pushback while it shrinks; polled values (Modbus, OPC UA) are never held back. 0s turns it off.',
      default: 5000,
      defaultText: '5s',
      min: 0,
    }),
  },
  { description: 'How the journal is cut into chunks; each chunk becomes one insert per table with its own deduplication token.' },
);
export type BatchConfig = Infer<typeof batchSchema>;
