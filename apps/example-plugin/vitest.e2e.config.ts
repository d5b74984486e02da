import { defineConfig } from 'vitest/config';
import { packageTestConfig } from '@mtljs/vitest-config';

export default defineConfig(
  packageTestConfig('@mtljs/example-plugin e2e', { include: ['e2e/**/*.test.ts'], testTimeout: 900_000, hookTimeout: 900_000 }),
);
