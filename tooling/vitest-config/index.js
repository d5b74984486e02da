import { existsSync } from "node:fs";
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

// A test that needs a file from a system package skips where it is absent, with the reason in its
// name, except under CI (where .ci/run installs the package): there it runs, and fails.
export function systemFile(path, aptPackage) {
  const present = existsSync(path);
  return {
    path,
    run: present || Boolean(process.env.CI),
    note: present ? '' : ` (skipped: ${path} not installed; apt-get install ${aptPackage})`,
  };
}

/** Debian's chromium: headless pages (playwright-core with this executablePath) and its SwiftShader Vulkan driver. */
export const chromium = systemFile('/usr/bin/chromium', 'chromium');
