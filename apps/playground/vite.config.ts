import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const require = createRequire(import.meta.url);

/**
 * A tfjs package's single-file ES module build (`dist/<name>.fesm.js`), resolved from this app: the
 * same code as its per-file `module` entry, but one module instead of hundreds, so the bundle
 * builds in about half the time.
 */
function flatBuild(name: string, file: string): string {
  return join(dirname(require.resolve(`${name}/package.json`)), 'dist', file);
}
const STUB = '\0mtljs-node-stub:';
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const RESERVED = new Set(['default', 'delete', 'new', 'function', 'class', 'var', 'let', 'const', 'import', 'export']);

/**
 * Node built-ins imported by the Node-only paths of mtljs packages (file readers of
 * @mtljs/datasets, @mtljs/data-idx, the wasm backend's binary lookup) become modules whose every
 * export throws when called: the page never calls them, but the bundle must link. Vite's own
 * browser stub exports no names, so a static `import { join } from 'path'` fails to link.
 * tfjs's packages are left to their own "browser" field.
 */
function nodeBuiltinStubs(): Plugin {
  return {
    name: 'mtljs-node-builtin-stubs',
    enforce: 'pre',
    resolveId(source, importer) {
      const name = source.startsWith('node:') ? source.slice('node:'.length) : source;
      if (!builtinModules.includes(name) || importer?.includes('@tensorflow')) return null;
      return STUB + name;
    },
    load(id) {
      if (!id.startsWith(STUB)) return null;
      const name = id.slice(STUB.length);
      const names = Object.keys(require(`node:${name}`) as object).filter((key) => IDENTIFIER.test(key) && !RESERVED.has(key));
      const fail = `const unavailable = (what) => function () { throw new Error(\`node:${name} \${what}() is not available in a browser\`); };`;
      return [fail, ...names.map((key) => `export const ${key} = unavailable('${key}');`), 'export default {};'].join('\n');
    },
  };
}

export default defineConfig({
  // Relative asset URLs: the built app works from any folder it is served from.
  base: './',
  plugins: [nodeBuiltinStubs()],
  resolve: {
    // csv-parse's default ESM entry is Node's (node:stream, Buffer); it ships a browser build.
    // @mtljs/data-csv, registered by the umbrella, imports it.
    alias: [
      { find: /^csv-parse$/, replacement: 'csv-parse/browser/esm' },
      { find: /^@tensorflow\/tfjs-core$/, replacement: flatBuild('@tensorflow/tfjs-core', 'tf-core.fesm.js') },
      { find: /^@tensorflow\/tfjs-backend-wasm$/, replacement: flatBuild('@tensorflow/tfjs-backend-wasm', 'tf-backend-wasm.fesm.js') },
      { find: /^@tensorflow\/tfjs-backend-webgpu$/, replacement: flatBuild('@tensorflow/tfjs-backend-webgpu', 'tf-backend-webgpu.fesm.js') },
    ],
    // One tfjs engine: a second copy of tfjs-core would have its own kernel and backend registries.
    dedupe: ['@tensorflow/tfjs-core'],
  },
  build: {
    target: 'es2022',
    // tfjs-core and its backends make one large chunk; that is expected here.
    chunkSizeWarningLimit: 4096,
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
