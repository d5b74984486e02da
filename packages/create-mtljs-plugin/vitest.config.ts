import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { packageTestConfig } from '@mtljs/vitest-config';

const mtljsVersion: string = JSON.parse(readFileSync(new URL('../core/package.json', import.meta.url), 'utf8')).version;

// The scaffold end-to-end test installs packages from the registry and takes minutes: it runs
// with `npm run test:scaffold`, not in the default suite.
export default defineConfig({
  ...packageTestConfig('create-mtljs-plugin'),
  define: { __MTLJS_VERSION__: JSON.stringify(mtljsVersion) },
});
