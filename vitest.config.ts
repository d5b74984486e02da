import { defineConfig } from 'vitest/config';

// One vitest run over every package and app: each is a project with its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts'],
  },
});
