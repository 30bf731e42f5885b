import { EXIT, type Args, configOf } from '../args.js';
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { createTransport } from '../../pipeline/gateway.js';
import { pointsDdl, type ServerFeatures } from '../../sinks/clickhouse/ddl.js';
import { detectFeatures } from '../../sinks/clickhouse/sink.js';

export async function ddl(args: Args): Promise<number> {
  const cfg = configOf(args);
  let f: ServerFeatures = { version: 'chDB', major: 26, minor: 0, dedupToken: true, dedupWindow: true, embedded: true };
  if (cfg.clickhouse.url) {
    const t = createTransport(cfg);
    try {
      f = await detectFeatures(t);
      process.stdout.write(`-- ClickHouse ${f.version} at ${t.target}\n`);
    } catch (err) {
      f = { version: 'unknown', major: 24, minor: 0, dedupToken: true, dedupWindow: true, embedded: false };
      process.stdout.write(`-- could not read the server version (${errorMessage(err).split('\n')[0]}); DDL for a current server:\n`);
    } finally {
      await t.close();
    }
  } else process.stdout.write(`-- embedded store (chDB) at ${join(cfg.state_dir, 'store')}\n`);
  for (const s of pointsDdl(f, { database: cfg.clickhouse.database, table: cfg.clickhouse.table, ttlMs: cfg.clickhouse.ttl, dedupWindow: cfg.clickhouse.dedup_window })) {
    process.stdout.write(`${s};\n`);
  }
  return EXIT.ok;
}
