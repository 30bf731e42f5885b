import { EXIT, type Args, configOf, post, loopbackOf } from '../args.js';

import { FgError, errorMessage } from '../../core/errors.js';
import { sinkConfigs, type Config } from '../../config/schema.js';
import { serverUrls } from '../../sinks/clickhouse/config.js';
import { createTransport } from '../../pipeline/gateway.js';
import { lockHolderText, tryLockStateDir } from '../lock.js';

export async function query(args: Args): Promise<number> {
  const cfg = configOf(args);
  const sql = args.rest.join(' ').trim();
  if (!sql) throw new FgError('FG_E_USAGE', 'query needs SQL, e.g. fieldgate query -c FILE "SELECT count() FROM fieldgate.points"');
  const format = typeof args.flags.get('--format') === 'string' ? String(args.flags.get('--format')) : 'TabSeparated';
  process.stdout.write(await runQuery(cfg, sql, format));
  return EXIT.ok;
}

/** A read-only query through the running gateway, or on the store directly when it is not running. */
export async function runQuery(cfg: Config, sql: string, format: string): Promise<Buffer> {
  const { host, port } = loopbackOf(cfg.http.bind);
  // Queries go to the first sink's store. Not running: open the store ourselves, holding the lock so a gateway cannot start meanwhile.
  const ch = sinkConfigs(cfg)[0].clickhouse;
  const unlock = serverUrls(ch).length ? () => Promise.resolve() : await tryLockStateDir(cfg.state_dir);
  if (!unlock) {
    const holder = lockHolderText(cfg.state_dir);
    let r: { status: number; data: Buffer };
    try {
      r = await post(host, port, `/query?format=${encodeURIComponent(format)}`, sql);
    } catch (err) {
      throw new FgError(
        'FG_E_QUERY',
        `fieldgate (${holder}) holds ${cfg.state_dir} but its HTTP endpoint ${host}:${port} did not answer: ${errorMessage(err)}`,
      );
    }
    if (r.status !== 200) throw new FgError('FG_E_QUERY', r.data.toString('utf8').trim());
    return r.data;
  }
  const t = createTransport(cfg);
  try {
    return await t.query(sql, format, { timeoutMs: ch.query_timeout, maxMemory: ch.query_max_memory });
  } catch (err) {
    if (err instanceof FgError) throw err;
    throw new FgError('FG_E_QUERY', errorMessage(err).trim());
  } finally {
    await t.close();
    await unlock();
  }
}
