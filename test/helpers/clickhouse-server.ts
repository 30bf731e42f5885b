/** The real Debian clickhouse-server the tests start; shared with the benchmarks. */
export { ClickHouseServer, CLICKHOUSE_BIN } from '../../bench/lib/clickhouse-server.mjs';
