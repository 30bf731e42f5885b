import type { ChildProcess } from 'node:child_process';
export const CLICKHOUSE_BIN: string | undefined;
export class ClickHouseServer {
  constructor(httpPort: number, tcpPort: number, dir?: string, extraXml?: string);
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly dir: string;
  proc: ChildProcess | undefined;
  readonly url: string;
  static create(): Promise<ClickHouseServer>;
  start(): Promise<void>;
  query(sql: string): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}
