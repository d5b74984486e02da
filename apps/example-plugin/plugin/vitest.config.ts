import { defineConfig } from 'vitest/config';

// tfjs keeps one engine per process: forked workers keep test files from sharing it. The checks
// train small models, which takes seconds on a slow machine.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
