import { TFJS_VERSION, type PluginKind } from '../options';

export interface TemplateContext {
  kind: PluginKind;
  /** Registered name, kebab-case. */
  name: string;
  packageName: string;
  /** Name of the exported factory, e.g. `signAgreementWeighting`. */
  factory: string;
  /** Dependency spec per @mtljs package used in devDependencies (a version or a file: spec). */
  mtljsDevSpecs: Record<string, string>;
  mtljsVersion: string;
}

/** The @mtljs packages a kind's generated tests need, besides @mtljs/core. */
export function testPackagesFor(kind: PluginKind): string[] {
  // trainerSmokeCheck needs a sharing strategy to train a weighting with; hard sharing is the plainest.
  return kind === 'weighting' ? ['@mtljs/testkit', '@mtljs/sharing-hard'] : ['@mtljs/testkit'];
}

export function factoryName(name: string, kind: PluginKind): string {
  const camel = name.replace(/-([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
  const suffix = { weighting: 'Weighting', sharing: 'Sharing', data: 'Adapter', backend: 'Backend' }[kind];
  return camel + suffix;
}

function sortedObject(entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).sort(([a], [b]) => a.localeCompare(b)));
}

export function packageJson(context: TemplateContext): string {
  const { kind, name, packageName, mtljsVersion } = context;
  const peerDependencies: Record<string, string> = {
    '@mtljs/core': `^${mtljsVersion}`,
    '@tensorflow/tfjs-core': `^${TFJS_VERSION}`,
  };
  const devDependencies: Record<string, string> = {
    ...context.mtljsDevSpecs,
    '@tensorflow/tfjs-core': TFJS_VERSION,
    '@tensorflow/tfjs-backend-cpu': TFJS_VERSION,
    '@types/node': '^20.19.0',
    tsup: '8.5.0',
    typescript: '5.9.3',
    vitest: '4.1.12',
  };
  // The backend wraps tfjs's cpu kernels, so the application must have exactly the one copy too.
  if (kind === 'backend') peerDependencies['@tensorflow/tfjs-backend-cpu'] = `^${TFJS_VERSION}`;
  const manifest = {
    name: packageName,
    version: '0.1.0',
    description: `TODO: one line on what the '${name}' ${kind} plugin for mtljs does`,
    license: 'MIT',
    keywords: ['mtljs', 'mtljs-plugin', `mtljs-${kind}`, 'multi-task-learning', 'tensorflowjs'],
    type: 'module',
    sideEffects: false,
    main: './dist/index.cjs',
    module: './dist/index.js',
    types: './dist/index.d.cts',
    exports: {
      '.': {
        import: { types: './dist/index.d.ts', default: './dist/index.js' },
        require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
      },
      './package.json': './package.json',
    },
    files: ['dist', 'README.md'],
    engines: { node: '>=20' },
    scripts: {
      build: 'tsup',
      test: 'vitest run',
      typecheck: 'tsc --noEmit',
      prepublishOnly: 'npm run typecheck && npm run build && npm test',
    },
    peerDependencies: sortedObject(peerDependencies),
    devDependencies: sortedObject(devDependencies),
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022'],
      module: 'ESNext',
      moduleResolution: 'Bundler',
      strict: true,
      noImplicitOverride: true,
      esModuleInterop: true,
      skipLibCheck: true,
      isolatedModules: true,
      resolveJsonModule: true,
      types: ['node'],
      noEmit: true,
    },
    include: ['src'],
  },
  null,
  2,
)}\n`;

export const TSUP_CONFIG = `import { defineConfig } from 'tsup';

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
`;

export const VITEST_CONFIG = `import { defineConfig } from 'vitest/config';

// tfjs keeps one engine per process: forked workers keep test files from sharing it. The checks
// train small models, which takes seconds on a slow machine.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
`;

export const GITIGNORE = `node_modules/
dist/
*.tgz
`;

export function indexSource(context: TemplateContext, extraTypes: string[] = []): string {
  const types = extraTypes.length ? `\nexport type { ${extraTypes.join(', ')} } from './${context.name}';` : '';
  return `export { ${context.factory} } from './${context.name}';${types}\n`;
}
