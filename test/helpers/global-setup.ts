/** One shared ClickHouse server for the tests that need one; each uses its own database. */
import type { TestProject } from 'vitest/node';
import { ClickHouseServer } from './clickhouse-server.js';

let server: ClickHouseServer | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    clickhouseUrl: string;
  }
}

export async function setup(project: TestProject): Promise<void> {
  server = await ClickHouseServer.create();
  project.provide('clickhouseUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
