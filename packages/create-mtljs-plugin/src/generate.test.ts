import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findTarball, generatePlugin, scaffoldPlugin } from './generate';
import { nameProblem, parseArguments, PLUGIN_KINDS, ScaffoldError, type PluginKind } from './options';
import { MTLJS_VERSION } from './version';

function thrown(run: () => unknown): ScaffoldError {
  try {
    run();
  } catch (error) {
    if (error instanceof ScaffoldError) return error;
    throw error;
  }
  throw new Error('expected a ScaffoldError, nothing was thrown');
}

const temporary: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'create-mtljs-plugin-test-'));
  temporary.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('parseArguments', () => {
  it('defaults the kind to weighting and the name to the folder, less an mtljs-<kind>- prefix', () => {
    expect(parseArguments(['plugins/sign-agreement'], '1.2.3')).toEqual({ help: false, directory: 'plugins/sign-agreement', kind: 'weighting', name: 'sign-agreement', mtljsVersion: '1.2.3' });
    expect(parseArguments(['mtljs-sharing-ring/', '--kind', 'sharing'], '1.2.3')).toMatchObject({ kind: 'sharing', name: 'ring' });
  });

  it('reads every flag, in both spellings, and skips the -- that npm create passes on', () => {
    const parsed = parseArguments(['out', '--', '--kind=data', '--name', 'json-lines', '--mtljs-version', '0.4.0', '--from-tarballs', '/tmp/t'], '1.2.3');
    expect(parsed).toEqual({ help: false, directory: 'out', kind: 'data', name: 'json-lines', mtljsVersion: '0.4.0', fromTarballs: '/tmp/t' });
    expect(parseArguments(['x', '--help'], '1.2.3')).toEqual({ help: true });
    expect(parseArguments(['-h'], '1.2.3')).toEqual({ help: true });
  });

  it('refuses a bad kind, name, flag or version with a BAD_CONFIG error that exits 2', () => {
    const kind = thrown(() => parseArguments(['x', '--kind', 'optimizer'], '1.0.0'));
    expect(kind.message).toBe("unknown kind 'optimizer'; kinds: weighting, sharing, data, backend");
    expect(kind).toMatchObject({ code: 'BAD_CONFIG', exitCode: 2 });
    expect(thrown(() => parseArguments(['x', '--name', 'Sign_Agreement'], '1.0.0')).message).toContain("'Sign_Agreement' is not kebab-case");
    expect(thrown(() => parseArguments(['My Plugin'], '1.0.0')).message).toContain("the folder name 'My Plugin' (pass --name)");
    expect(thrown(() => parseArguments(['x', '--knd', 'data'], '1.0.0')).message).toContain("unknown option '--knd'");
    expect(thrown(() => parseArguments(['x', '--name'], '1.0.0')).message).toBe("option '--name' needs a value");
    expect(thrown(() => parseArguments(['x', '--name', 'a', '--name', 'b'], '1.0.0')).message).toBe("option '--name' is given twice");
    expect(thrown(() => parseArguments(['x', '--mtljs-version', '^1.0.0'], '1.0.0')).message).toContain('exact version');
    expect(thrown(() => parseArguments([], '1.0.0')).message).toContain('missing the target folder');
    expect(thrown(() => parseArguments(['a', 'b'], '1.0.0')).message).toContain('one target folder expected, got 2');
  });
});

describe('nameProblem', () => {
  it('accepts kebab-case and refuses the rest', () => {
    for (const good of ['ew2', 'sign-agreement', 'a-b-c', 'x']) expect(nameProblem(good)).toBeNull();
    for (const bad of ['', 'Upper', '2fast', 'double--hyphen', 'trailing-', '-leading', 'under_score', 'dot.ted', 'a'.repeat(61)]) {
      expect(nameProblem(bad), bad).not.toBeNull();
    }
  });
});

describe('generatePlugin', () => {
  it.each(PLUGIN_KINDS.map((kind) => [kind]))('%s: the package files, with the plugin and its test named after it', (kind: PluginKind) => {
    const generated = generatePlugin({ kind, name: 'sign-agreement', mtljsVersion: '1.2.3' });
    expect(generated.packageName).toBe(`mtljs-${kind}-sign-agreement`);
    expect(Object.keys(generated.files).sort()).toEqual(
      ['.gitignore', 'README.md', 'package.json', 'src/index.ts', 'src/sign-agreement.test.ts', 'src/sign-agreement.ts', 'tsconfig.json', 'tsup.config.ts', 'vitest.config.ts'].sort(),
    );
    const factory = { weighting: 'signAgreementWeighting', sharing: 'signAgreementSharing', data: 'signAgreementAdapter', backend: 'signAgreementBackend' }[kind];
    expect(generated.factory).toBe(factory);
    expect(generated.files['src/index.ts']).toContain(`export { ${factory} } from './sign-agreement';`);
    expect(generated.files['src/sign-agreement.ts']).toContain(`export function ${factory}(`);
    expect(generated.files['src/sign-agreement.ts']).toContain(`kind: '${kind}'`);
    expect(generated.files['src/sign-agreement.ts']).toContain("name: 'sign-agreement'");
    // Generated code is written without template literals, so nothing is left unsubstituted.
    for (const content of Object.values(generated.files)) expect(content).not.toMatch(/\$\{|undefined|%VERSION%/);
    // Each kind's test uses the testkit check made for it.
    const check = { weighting: 'checkWeighting(', sharing: 'checkSharingStrategy(', data: 'checkNoLeak(', backend: 'checkBackendConformance(' }[kind];
    expect(generated.files['src/sign-agreement.test.ts']).toContain(check);
    expect(generated.files['README.md']).toContain('## Semantics');
    expect(generated.files['README.md']).toContain(`"plugins": ["mtljs-${kind}-sign-agreement"]`);
  });

  it('writes a package.json with the exports map, peers and dev dependencies a plugin needs', () => {
    const manifest = JSON.parse(generatePlugin({ kind: 'weighting', name: 'foo', mtljsVersion: '1.2.3' }).files['package.json']!);
    expect(manifest).toMatchObject({
      name: 'mtljs-weighting-foo',
      type: 'module',
      sideEffects: false,
      main: './dist/index.cjs',
      module: './dist/index.js',
      types: './dist/index.d.cts',
      files: ['dist', 'README.md'],
      exports: {
        '.': {
          import: { types: './dist/index.d.ts', default: './dist/index.js' },
          require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
        },
        './package.json': './package.json',
      },
      scripts: { build: 'tsup', test: 'vitest run', typecheck: 'tsc --noEmit' },
      peerDependencies: { '@mtljs/core': '^1.2.3', '@tensorflow/tfjs-core': '^4.22.0' },
    });
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.devDependencies).toMatchObject({
      '@mtljs/core': '^1.2.3',
      '@mtljs/testkit': '^1.2.3',
      '@mtljs/sharing-hard': '^1.2.3',
      '@tensorflow/tfjs-core': '4.22.0',
      '@tensorflow/tfjs-backend-cpu': '4.22.0',
      tsup: '8.5.0',
      typescript: '5.9.3',
      vitest: '4.1.12',
    });
    const sharing = JSON.parse(generatePlugin({ kind: 'sharing', name: 'foo', mtljsVersion: '1.2.3' }).files['package.json']!);
    expect(sharing.devDependencies['@mtljs/sharing-hard']).toBeUndefined();
    const backend = JSON.parse(generatePlugin({ kind: 'backend', name: 'foo', mtljsVersion: '1.2.3' }).files['package.json']!);
    expect(backend.peerDependencies['@tensorflow/tfjs-backend-cpu']).toBe('^4.22.0');
  });

  it('points @mtljs dev dependencies at tarballs with --from-tarballs, peers staying ranges', () => {
    const folder = tempDir();
    for (const file of ['mtljs-core-1.2.3.tgz', 'mtljs-testkit-1.2.3.tgz', 'mtljs-sharing-hard-1.2.3.tgz', 'mtljs-core-extra-1.2.3.tgz']) writeFileSync(join(folder, file), '');
    const manifest = JSON.parse(generatePlugin({ kind: 'weighting', name: 'foo', mtljsVersion: '1.2.3', fromTarballs: folder }).files['package.json']!);
    expect(manifest.devDependencies['@mtljs/core']).toBe(`file:${join(folder, 'mtljs-core-1.2.3.tgz')}`);
    expect(manifest.devDependencies['@mtljs/testkit']).toBe(`file:${join(folder, 'mtljs-testkit-1.2.3.tgz')}`);
    expect(manifest.peerDependencies['@mtljs/core']).toBe('^1.2.3');
  });

  it('names the missing or ambiguous tarball', () => {
    expect(thrown(() => findTarball('/t', '@mtljs/testkit', ['mtljs-core-1.0.0.tgz'])).message).toContain('no tarball of @mtljs/testkit (mtljs-testkit-<version>.tgz) in /t');
    expect(thrown(() => findTarball('/t', '@mtljs/core', ['mtljs-core-1.0.0.tgz', 'mtljs-core-1.1.0.tgz'])).message).toContain('2 tarballs of @mtljs/core');
    expect(findTarball('/t', '@mtljs/core', ['mtljs-core-1.0.0-next.1.tgz', 'mtljs-core-extra-1.0.0.tgz'])).toBe('/t/mtljs-core-1.0.0-next.1.tgz');
  });

  it('uses the version of the workspace @mtljs packages by default', () => {
    const core = JSON.parse(readFileSync(new URL('../../core/package.json', import.meta.url), 'utf8'));
    expect(MTLJS_VERSION).toBe(core.version);
  });
});

describe('scaffoldPlugin', () => {
  it('writes the files into a new folder and refuses a folder with files in it', () => {
    const directory = join(tempDir(), 'mtljs-data-rows');
    const result = scaffoldPlugin({ directory, kind: 'data', name: 'rows', mtljsVersion: '1.2.3' });
    expect(readdirSync(join(directory, 'src')).sort()).toEqual(['index.ts', 'rows.test.ts', 'rows.ts']);
    expect(readFileSync(join(directory, 'package.json'), 'utf8')).toBe(result.files['package.json']);
    expect(thrown(() => scaffoldPlugin({ directory, kind: 'data', name: 'rows', mtljsVersion: '1.2.3' })).message).toContain('is not empty');
  });
});

describe('the create-mtljs-plugin command (built)', () => {
  const bin = new URL('../dist/bin.js', import.meta.url).pathname;
  const cli = (args: string[], cwd: string) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });

  it('scaffolds, prints help, and exits 2 on a usage error', () => {
    const cwd = tempDir();
    const created = cli(['mtljs-backend-mirror', '--kind', 'backend'], cwd);
    expect(created.status).toBe(0);
    expect(created.stdout).toContain('Created mtljs-backend-mirror (backend plugin \'mirror\', factory mirrorBackend())');
    expect(readdirSync(join(cwd, 'mtljs-backend-mirror', 'src')).sort()).toEqual(['index.ts', 'mirror.test.ts', 'mirror.ts']);

    const help = cli(['--help'], cwd);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--from-tarballs');
    expect(help.stdout).toContain(`default: ${MTLJS_VERSION})`);

    mkdirSync(join(cwd, 'empty'));
    const bad = cli(['empty', '--kind', 'optimiser'], cwd);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("create-mtljs-plugin: unknown kind 'optimiser'; kinds: weighting, sharing, data, backend\n");
  });
});
