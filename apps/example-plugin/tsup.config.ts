import { defineConfig } from 'tsup';
import { libraryConfig } from '@mtljs/tsup-config';

// The workspace build compiles the plugin into plugin/dist (the same ESM + CJS + types recipe as
// plugin/tsup.config.ts, which an outside author runs in plugin/); the app has no build step.
export default defineConfig(libraryConfig({ entry: { index: 'plugin/src/index.ts' }, outDir: 'plugin/dist' }));
