#!/usr/bin/env node
// Acceptance check of the scaffolder, the way an outside author meets it: pack the @mtljs
// packages the generated tests need, scaffold each plugin kind into a folder outside the
// workspace, `npm install` there (tarballs + registry), then `npm run build`, `npm test` and
// `npm run typecheck` with no edits; then load the built package in plain Node (ESM and CJS) and
// lint its packaging with publint and attw. Slow (one npm install per kind), so it is not part of
// `vitest run`; run it with `npm run test:scaffold` after building this package
// (`--kinds weighting,data` limits it, `--keep` leaves the folders for inspection).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = resolve(here, '..');
const packagesRoot = resolve(packageRoot, '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const kindsArgument = args.find((arg, i) => args[i - 1] === '--kinds');
const kinds = kindsArgument ? kindsArgument.split(',') : ['weighting', 'sharing', 'data', 'backend'];
const PNPM = ['-y', 'pnpm@10.34.9'];
const workspaceBin = resolve(packagesRoot, '..', 'node_modules', '.bin');
// A package resolves itself by name through its exports map (Node's self-reference).
const packageName = (kind) => `mtljs-${kind}-example`;

const bin = join(packageRoot, 'dist', 'bin.js');
if (!existsSync(bin)) {
  console.error('scaffold-e2e: dist/bin.js is missing; run `npm run build` in packages/create-mtljs-plugin first');
  process.exit(1);
}

function run(command, commandArgs, cwd) {
  const started = Date.now();
  const result = spawnSync(command, commandArgs, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    throw new Error(`\`${command} ${commandArgs.join(' ')}\` in ${cwd} failed (exit ${result.status}, ${seconds} s):\n${result.stdout}\n${result.stderr}`);
  }
  return { seconds, output: result.stdout };
}

const root = mkdtempSync(join(tmpdir(), 'mtljs-scaffold-e2e-'));
const tarballs = join(root, 'tarballs');
const failures = [];
const started = Date.now();
try {
  // testkit's peers are @mtljs/core and tfjs-core; a weighting's trainer smoke test also needs
  // a sharing strategy (hard sharing). pnpm pack rewrites workspace: ranges to real versions.
  for (const folder of ['core', 'testkit', 'sharing-hard']) {
    if (!existsSync(join(packagesRoot, folder, 'dist'))) throw new Error(`packages/${folder}/dist is missing; build the workspace first`);
    execFileSync('npx', [...PNPM, 'pack', '--pack-destination', tarballs], { cwd: join(packagesRoot, folder), stdio: 'ignore' });
  }
  console.log(`packed: ${readdirSync(tarballs).join(', ')}`);

  for (const kind of kinds) {
    const directory = join(root, `mtljs-${kind}-example`);
    const kindStarted = Date.now();
    try {
      run(process.execPath, [bin, directory, '--kind', kind, '--name', 'example', '--from-tarballs', tarballs], root);
      const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], directory);
      const build = run('npm', ['run', 'build'], directory);
      const test = run('npm', ['test'], directory);
      const typecheck = run('npm', ['run', 'typecheck'], directory);
      const factory = { weighting: 'exampleWeighting', sharing: 'exampleSharing', data: 'exampleAdapter', backend: 'exampleBackend' }[kind];
      // The built package, loaded by plain Node the way an application would, in both formats.
      const probe = (load) =>
        `${load}.then((m) => { const p = m.${factory}(); if (p.kind !== '${kind}' || p.name !== 'example') throw new Error('got ' + p.kind + ' ' + p.name); })`;
      run(process.execPath, ['--input-type=module', '-e', probe("import('" + packageName(kind) + "')")], directory);
      run(process.execPath, ['--input-type=commonjs', '-e', probe("Promise.resolve(require('" + packageName(kind) + "'))")], directory);
      // Packaging as publint and attw see it, with the workspace's own copies of both tools.
      run(join(workspaceBin, 'publint'), ['--strict', '--pack', 'npm'], directory);
      run(join(workspaceBin, 'attw'), ['--pack', '.'], directory);
      // One engine per application: a second copy of tfjs-core would mean two kernel registries.
      const copies = run('npm', ['ls', '@tensorflow/tfjs-core', '--all', '--parseable'], directory).output.trim().split('\n').filter(Boolean);
      const unique = new Set(copies.map((path) => readFileSync(join(path, 'package.json'), 'utf8')).map((text) => JSON.parse(text).version));
      if (copies.length !== 1) throw new Error(`expected one installed copy of @tensorflow/tfjs-core, found ${copies.length}: ${copies.join(', ')} (versions ${[...unique].join(', ')})`);
      const tests = /Tests\s+(\d+) passed/.exec(test.output.replace(/\x1b\[[0-9;]*m/g, ''))?.[1] ?? '?';
      console.log(
        `ok   ${kind}: install ${install.seconds} s, build ${build.seconds} s, test ${test.seconds} s (${tests} tests), typecheck ${typecheck.seconds} s; total ${((Date.now() - kindStarted) / 1000).toFixed(1)} s`,
      );
    } catch (error) {
      failures.push(kind);
      console.error(`FAIL ${kind}: ${error.message}`);
    }
  }
} finally {
  if (keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
console.log(`scaffold-e2e: ${kinds.length - failures.length}/${kinds.length} kinds passed in ${((Date.now() - started) / 1000).toFixed(1)} s${failures.length ? `; failed: ${failures.join(', ')}` : ''}`);
process.exit(failures.length ? 1 : 0);
