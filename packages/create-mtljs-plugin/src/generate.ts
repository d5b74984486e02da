import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ScaffoldError, nameProblem, isPluginKind, PLUGIN_KINDS, type ScaffoldOptions } from './options';
import { factoryName, GITIGNORE, indexSource, packageJson, testPackagesFor, TSCONFIG, TSUP_CONFIG, VITEST_CONFIG, type TemplateContext } from './templates/common';
import { weightingSource, weightingTest, capital } from './templates/weighting';
import { sharingSource, sharingTest } from './templates/sharing';
import { dataSource, dataTest } from './templates/data';
import { backendSource, backendTest } from './templates/backend';
import { readme } from './templates/readme';

export interface GeneratedPackage {
  packageName: string;
  /** Registered plugin name. */
  name: string;
  factory: string;
  /** Relative path (forward slashes) → content. */
  files: Record<string, string>;
}

/**
 * `pnpm pack` names a scoped package's tarball `<scope>-<name>-<version>.tgz` without the `@`:
 * @mtljs/core 0.3.1 → mtljs-core-0.3.1.tgz.
 */
export function findTarball(folder: string, packageName: string, files: readonly string[] = readdirSync(folder)): string {
  const stem = packageName.replace(/^@/, '').replace('/', '-');
  const pattern = new RegExp(`^${stem.replace(/[.-]/g, '\\$&')}-\\d+\\.\\d+\\.\\d+(-[0-9A-Za-z.-]+)?\\.tgz$`);
  const matches = files.filter((file) => pattern.test(file));
  if (matches.length !== 1) {
    throw new ScaffoldError(
      matches.length === 0
        ? `--from-tarballs: no tarball of ${packageName} (${stem}-<version>.tgz) in ${folder}; run 'pnpm pack' in its package folder`
        : `--from-tarballs: ${matches.length} tarballs of ${packageName} in ${folder} (${matches.join(', ')}); keep one`,
    );
  }
  return resolve(folder, matches[0]!);
}

/** The files of a new plugin package, in memory; nothing is written. */
export function generatePlugin(options: Omit<ScaffoldOptions, 'directory'>): GeneratedPackage {
  const { kind, name, mtljsVersion } = options;
  if (!isPluginKind(kind)) throw new ScaffoldError(`unknown kind '${String(kind)}'; kinds: ${PLUGIN_KINDS.join(', ')}`);
  const problem = nameProblem(name);
  if (problem) throw new ScaffoldError(`bad plugin name: ${problem}`);
  const packageName = `mtljs-${kind}-${name}`;
  const factory = factoryName(name, kind);
  const mtljsPackages = ['@mtljs/core', ...testPackagesFor(kind)];
  const mtljsDevSpecs = Object.fromEntries(
    mtljsPackages.map((pkg) => [pkg, options.fromTarballs === undefined ? `^${mtljsVersion}` : `file:${findTarball(options.fromTarballs, pkg)}`]),
  );
  const context: TemplateContext = { kind, name, packageName, factory, mtljsDevSpecs, mtljsVersion };
  const [source, test] = {
    weighting: [weightingSource, weightingTest],
    sharing: [sharingSource, sharingTest],
    data: [dataSource, dataTest],
    backend: [backendSource, backendTest],
  }[kind];
  const optionTypes = kind === 'backend' ? [] : [`${capital(factory)}Options`];
  return {
    packageName,
    name,
    factory,
    files: {
      'package.json': packageJson(context),
      'tsconfig.json': TSCONFIG,
      'tsup.config.ts': TSUP_CONFIG,
      'vitest.config.ts': VITEST_CONFIG,
      '.gitignore': GITIGNORE,
      'README.md': readme(context),
      'src/index.ts': indexSource(context, optionTypes),
      [`src/${name}.ts`]: source(context),
      [`src/${name}.test.ts`]: test(context),
    },
  };
}

/** Writes the package into `directory`, which must not exist or be empty. */
export function scaffoldPlugin(options: ScaffoldOptions): GeneratedPackage & { directory: string } {
  const directory = resolve(options.directory);
  if (existsSync(directory) && readdirSync(directory).length > 0) {
    throw new ScaffoldError(`${directory} is not empty; choose a new folder`);
  }
  const generated = generatePlugin(options);
  for (const [path, content] of Object.entries(generated.files)) {
    const target = join(directory, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  return { ...generated, directory };
}
