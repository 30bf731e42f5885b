import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Journal } from '../../src/journal/journal.js';
import type { BatchConfig, JournalConfig } from '../../src/journal/config.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { createLogger } from '../../src/telemetry/logger.js';

export function tempDir(prefix = 'fg-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const JOURNAL_DEFAULTS: JournalConfig = {
  commit_interval: 2,
  commit_bytes: 1024 * 1024,
  fsync: 'always',
  fsync_interval: 1000,
  segment_bytes: 64 * 1024 * 1024,
  max_bytes: 1024 ** 3,
  min_free_bytes: 0,
  on_full: 'drop_oldest',
};

export function openJournal(dir: string, j: Partial<JournalConfig> = {}, b: Partial<BatchConfig> = {}, sinks = ['s']) {
  const metrics = createMetrics(new Registry(), false);
  const journal = new Journal({
    dir,
    journal: { ...JOURNAL_DEFAULTS, ...j },
    batch: { max_rows: 100, max_bytes: 1024 * 1024, max_delay: 50, max_lag: 0, ...b },
    sinks,
    metrics,
    log: createLogger('silent'),
  });
  const report = journal.recover();
  return { journal, metrics, report };
}
