import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the tests that need no build, no root, no peer process and no store; seconds.
export default defineConfig({
  test: {
    include: [
      'test/**/*.unit.test.ts',
      'test/layers.test.ts',
      'test/broker/packet-limit.test.ts',
      'test/config/**/*.test.ts',
      'test/encode/**/*.test.ts',
      'test/journal/journal.test.ts',
      'test/partners/units.test.ts',
      'test/property/**/*.test.ts',
      'test/sinks/clickhouse/ddl.test.ts',
      'test/sinks/clickhouse/retry.test.ts',
      'test/sources/modbus/config.test.ts',
      'test/sources/modbus/decode.test.ts',
      'test/sources/modbus/plan.test.ts',
      'test/sources/opcua/config.test.ts',
      'test/sources/opcua/pure.test.ts',
    ],
    pool: 'threads',
  },
});
