import { defineConfig } from 'vitest/config';

// Tests that open chDB run in child processes (chDB allows one store per process);
// forks keep each test file in its own process as well.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
