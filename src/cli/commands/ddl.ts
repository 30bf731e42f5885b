import { EXIT, type Args, configOf } from '../args.js';
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { sinkConfigs } from '../../config/schema.js';
import { transportFor } from '../../pipeline/gateway.js';
import { serverUrls } from '../../sinks/clickhouse/config.js';
import { ddlOptions, pointsDdl, type ServerFeatures } from '../../sinks/clickhouse/ddl.js';
import { detectFeatures } from '../../sinks/clickhouse/sink.js';

/** Prints the DDL each sink runs (adapted to its server's version, which is read when it answers). */
export async function ddl(args: Args): Promise<number> {
  const cfg = configOf(args);
  const many = sinkConfigs(cfg).length > 1;
  for (const s of sinkConfigs(cfg)) {
    const ch = s.clickhouse;
    const name = many ? `sink ${s.name}: ` : '';
    let f: ServerFeatures = { version: 'chDB', major: 26, minor: 0, dedupToken: true, dedupWindow: true, embedded: true };
    if (serverUrls(ch).length) {
      const t = transportFor(ch, cfg.state_dir);
      try {
        f = await detectFeatures(t);
        process.stdout.write(`-- ${name}ClickHouse ${f.version} at ${t.target}${ch.cluster ? `, cluster ${ch.cluster}` : ''}\n`);
      } catch (err) {
        f = { version: 'unknown', major: 24, minor: 0, dedupToken: true, dedupWindow: true, embedded: false };
        process.stdout.write(`-- ${name}could not read the server version (${errorMessage(err).split('\n')[0]}); DDL for a current server:\n`);
      } finally {
        await t.close();
      }
    } else process.stdout.write(`-- ${name}embedded store (chDB) at ${join(cfg.state_dir, 'store')}\n`);
    for (const sql of pointsDdl(f, ddlOptions(ch))) {
      process.stdout.write(`${sql};\n`);
    }
  }
  return EXIT.ok;
}
