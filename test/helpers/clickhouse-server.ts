/** The real Debian clickhouse-server the tests start; shared with the benchmarks. */
export { ClickHouseServer, CLICKHOUSE_BIN } from '../../bench/lib/clickhouse-server.mjs';

import { inject } from 'vitest';
import { TestGateway } from './gateway.js';

/** Runs SQL on the test suite's ClickHouse server (18.16); its text answer, trimmed. */
export async function serverSql(sql: string): Promise<string> {
  const r = await fetch(`${inject('clickhouseUrl')}/`, { method: 'POST', body: sql });
  const t = await r.text();
  if (!r.ok) throw new Error(`${t}\n${sql}`);
  return t.trim();
}

/** A started gateway with two sinks: `local` (the embedded store) and `server` (the test server, database `db`). */
export async function localAndServer(db: string, cleanups: Array<() => Promise<unknown>>): Promise<TestGateway> {
  const g = await TestGateway.create({
    batchMaxDelay: '50ms',
    sinks: ['- { name: local, clickhouse: { } }', `- { name: server, clickhouse: { url: "${inject('clickhouseUrl')}", database: ${db}, retry_max: 1s } }`],
  });
  cleanups.push(() => g.stop());
  await g.start();
  return g;
}
