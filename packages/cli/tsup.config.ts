import { defineConfig } from 'tsup';
import { libraryConfig } from '@mtljs/tsup-config';

export default defineConfig(libraryConfig({ entry: ["src/index.ts","src/bin.ts"] }));
