// The one build recipe of every mtljs package: ESM (.js) + CJS (.cjs) + declarations for both.
// Packages pass their entries and any extras; tfjs and sibling packages stay external because
// tsup externalises dependencies and peerDependencies by default.
export function libraryConfig(overrides = {}) {
  return {
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
    ...overrides,
  };
}

// Apps: ESM only, no declarations.
export function appConfig(overrides = {}) {
  return {
    entry: ['src/main.ts'],
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    ...overrides,
  };
}
