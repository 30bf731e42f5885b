#!/usr/bin/env node
/**
 * The bin. chDB's async calls and fs share libuv's thread pool; the pool is
 * sized here, before anything can start it, so the journal's fdatasync always
 * finds a free thread (docs/architecture.md, "Queries never starve ingest").
 */
process.env.UV_THREADPOOL_SIZE ??= '8';
// Before anything loads mqtt-packet (broker/quiet-debug.ts).
await import('../broker/quiet-debug.js');
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv.slice(2));
