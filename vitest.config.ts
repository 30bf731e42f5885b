import { defineConfig } from 'vitest/config';

// Heavy and timing-sensitive files (floods, a long outage, latency and jitter bounds) run one at
// a time after the rest, so on a 2-core machine they neither disturb nor get disturbed.
const EXCLUSIVE = [
  'test/sinks/cluster.test.ts',
  'test/broker/flood.test.ts',
  'test/e2e/outage.test.ts',
  'test/e2e/query-load.test.ts',
  'test/e2e/crash.test.ts',
  'test/sources/modbus/isolation.test.ts',
  'test/broker/puback.test.ts',
  'test/sources/opcua/subscribe.test.ts',
  'test/e2e/soak.test.ts',
  'test/partners/share.test.ts',
  'test/e2e/pushback.test.ts',
];

// Tests that open chDB run in child processes (chDB allows one store per process);
// forks keep each test file in its own process as well.
export default defineConfig({
  test: {
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'parallel', include: ['test/**/*.test.ts'], exclude: EXCLUSIVE, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'exclusive', include: EXCLUSIVE, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
