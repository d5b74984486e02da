import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { libraryConfig } from '@mtljs/tsup-config';

// Scaffolded packages depend on the @mtljs release this tool ships with: core's version now.
const mtljsVersion: string = JSON.parse(readFileSync(new URL('../core/package.json', import.meta.url), 'utf8')).version;

export default defineConfig([
  libraryConfig({ entry: ['src/index.ts'], define: { __MTLJS_VERSION__: JSON.stringify(mtljsVersion) } }),
  // The command needs no declarations and runs as ESM (package.json "type": "module").
  libraryConfig({ entry: ['src/bin.ts'], format: ['esm'], dts: false, clean: false, define: { __MTLJS_VERSION__: JSON.stringify(mtljsVersion) } }),
]);
