import { defineConfig } from 'vitest/config';
import { packageTestConfig } from '@mtljs/vitest-config';

// The default run is the plugin's own unit tests, on its sources; the tarball e2e (minutes of
// packing and installing) runs only with `npm run test:e2e` (vitest.e2e.config.ts).
export default defineConfig(packageTestConfig('@mtljs/example-plugin', { include: ['plugin/src/**/*.test.ts'] }));
