// Shared test settings. Tests run in Node in forked workers (tfjs keeps one global engine per
// process, so isolation between files matters); the timeout is generous because a 2-core CI
// machine trains small models inside some tests.
export function packageTestConfig(name, overrides = {}) {
  return {
    test: {
      name,
      environment: 'node',
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      pool: 'forks',
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...overrides,
    },
  };
}
