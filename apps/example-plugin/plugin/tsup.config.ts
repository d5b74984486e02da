import { defineConfig } from 'tsup';

// ESM (.js) and CommonJS (.cjs) with declarations for both, matching the exports map in
// package.json. Dependencies and peer dependencies stay external, so the application's one copy
// of @tensorflow/tfjs-core and @mtljs/core is the one this plugin uses.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
  treeshake: true,
  outExtension({ format }) {
    return { js: format === 'cjs' ? '.cjs' : '.js' };
  },
});
