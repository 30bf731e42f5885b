import { EXIT, type Args, configOf, post, loopbackOf } from '../args.js';
import { join } from 'node:path';
import { FgError } from '../../core/errors.js';
import { consumers } from '../../pipeline/gateway.js';
import { listLetterFiles, replayDeadLetters } from '../../sinks/clickhouse/deadletter.js';
import { createLogger } from '../../telemetry/logger.js';
import { createMetrics } from '../../telemetry/metrics.js';
import { Journal } from '../../journal/journal.js';
import { tryLockStateDir } from '../lock.js';

export async function deadletter(args: Args): Promise<number> {
  const cfg = configOf(args);
  const dir = join(cfg.state_dir, 'deadletter');
  const sub = args.rest[0];
  if (sub === 'list') {
    for (const f of await listLetterFiles(dir)) process.stdout.write(`${f.path}\n`);
    return EXIT.ok;
  }
  if (sub !== 'replay') throw new FgError('FG_E_USAGE', 'deadletter takes list or replay');
  const unlock = await tryLockStateDir(cfg.state_dir);
  if (!unlock) {
    const { host, port } = loopbackOf(cfg.http.bind);
    const r = await post(host, port, '/deadletter/replay', '');
    process.stdout.write(r.data);
    return r.status === 200 ? EXIT.ok : EXIT.failure;
  }
  const log = createLogger(cfg.log.level, cfg.log.format);
  const journal = new Journal({
    dir: cfg.state_dir,
    journal: cfg.journal,
    batch: cfg.batch,
    sinks: consumers(cfg).names,
    startAtEnd: consumers(cfg).startAtEnd,
    metrics: createMetrics(undefined, false),
    log,
  });
  try {
    journal.recover();
    const r = await replayDeadLetters(dir, journal, log);
    await journal.close();
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return EXIT.ok;
  } finally {
    await unlock();
  }
}
