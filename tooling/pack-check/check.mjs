#!/usr/bin/env node
// Packaging check for every published (non-private) package under packages/: what a stranger gets
// from the registry is the tarball, so everything here runs on `pnpm pack` output, never on the
// workspace folders (workspace: specs, `files`, and the exports map only show their real effect
// once packed). Usage and timings: tooling/pack-check/README.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TFJS_VERSION = '4.22.0';

const args = process.argv.slice(2);
function option(name) {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
}
const only = option('--only')?.split(',');
const jobs = Number(option('--jobs') ?? 2);
const keep = args.includes('--keep');
// One cache for every temp project: after the first run the installs are served from disk.
const npmCache = option('--cache') ?? process.env.MTLJS_PACK_CHECK_CACHE ?? join(tmpdir(), 'mtljs-pack-check-npm-cache');

function run(command, commandArgs, { cwd, env } = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(command, commandArgs, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
    child.on('error', (error) => resolveRun({ code: -1, stdout, stderr: String(error) }));
  });
}

// Under `pnpm run`, npm_execpath is the running pnpm; called as plain `node`, fetch the pinned one.
function pnpmCommand() {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(execPath)) return [process.execPath, [execPath]];
  const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).packageManager;
  return ['npx', ['-y', version]];
}

async function mapLimit(items, limit, task) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function publishedPackages(names) {
  const packagesDir = join(repoRoot, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(packagesDir, entry.name);
      return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) };
    })
    .filter(({ manifest }) => !manifest.private)
    .filter(({ manifest }) => !names || names.includes(manifest.name));
}

// The tarball is only as good as the build; a missing entry file is reported, not rebuilt here.
// Judged from the packed file list, not the folder: another build may be cleaning dist/ meanwhile.
function missingBuildOutput({ manifest }, packedFiles) {
  const targets = [];
  const collect = (value) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect(manifest.exports);
  collect(manifest.bin);
  return targets.filter((target) => !packedFiles?.has(target.replace(/^\.\//, '')));
}

// One recursive pnpm run: pnpm rewrites workspace: specs exactly as `pnpm publish` would, and a
// single process is ~10x faster than one `pnpm pack` per package.
async function packAll(tarballDir) {
  const [command, prefix] = pnpmCommand();
  const result = await run(command, [...prefix, '-r', '--filter', './packages/*', 'pack', '--pack-destination', tarballDir, '--json'], {
    cwd: repoRoot,
  });
  if (result.code !== 0) throw new Error(`pnpm -r pack failed:\n${result.stderr || result.stdout}`);
  const packed = JSON.parse(result.stdout.slice(result.stdout.indexOf('[')));
  return new Map(
    packed.map((entry) => [
      entry.name,
      {
        file: entry.filename.startsWith('/') ? entry.filename : join(tarballDir, entry.filename),
        files: new Set(entry.files.map((packedFile) => packedFile.path)),
      },
    ]),
  );
}

async function runPublint(tarball) {
  const { publint } = await import(join(repoRoot, 'node_modules/publint/src/index-node.js'));
  const { formatMessage } = await import(join(repoRoot, 'node_modules/publint/src/utils.js'));
  const buffer = readFileSync(tarball);
  const tarballBytes = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
  const { messages, pkg } = await publint({ pack: { tarball: tarballBytes }, level: 'warning', strict: true });
  return messages.map((message) => `${message.type}: ${formatMessage(message, pkg) ?? message.code}`);
}

// node16 profile: node16 CJS, node16 ESM and bundler resolution; node10 `main`/`types` are kept
// as a courtesy but not gated on.
async function runAttw(tarball) {
  const bin = join(repoRoot, 'node_modules/@arethetypeswrong/cli/dist/index.js');
  const result = await run(process.execPath, [bin, tarball, '--profile', 'node16', '--format', 'json', '--no-color']);
  let parsed;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    return [`attw did not answer JSON (exit ${result.code}): ${(result.stderr || result.stdout).slice(0, 400)}`];
  }
  const problems = parsed.analysis?.problems ?? [];
  const ignored = new Set(['node10']);
  const relevant = problems.filter((problem) => !problem.resolutionKind || !ignored.has(problem.resolutionKind));
  if (result.code !== 0 && relevant.length === 0) return [`attw exited ${result.code}`];
  return relevant.map((problem) => `${problem.kind}${problem.entrypoint ? ` ${problem.entrypoint}` : ''}${problem.resolutionKind ? ` (${problem.resolutionKind})` : ''}`);
}

// The @mtljs packages a package pulls in at install time, through dependencies and required peers,
// so every one of them is installed from its tarball and nothing under the scope hits the registry.
function internalClosure(name, byName) {
  const seen = new Set();
  const visit = (current) => {
    if (seen.has(current)) return;
    seen.add(current);
    const { manifest } = byName.get(current);
    const optional = manifest.peerDependenciesMeta ?? {};
    const edges = [
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}).filter((peer) => !optional[peer]?.optional),
    ];
    for (const edge of edges) if (byName.has(edge)) visit(edge);
  };
  visit(name);
  return [...seen];
}

// Required third-party peers across the closure (tfjs-layers for @mtljs/layers, say) are installed
// explicitly, so the check does not depend on npm's auto-install of peers.
function externalPeers(closure, byName) {
  const peers = { '@tensorflow/tfjs-core': TFJS_VERSION };
  for (const name of closure) {
    const { manifest } = byName.get(name);
    const optional = manifest.peerDependenciesMeta ?? {};
    for (const [peer, range] of Object.entries(manifest.peerDependencies ?? {})) {
      if (byName.has(peer) || optional[peer]?.optional) continue;
      peers[peer] = peer.startsWith('@tensorflow/') ? TFJS_VERSION : range;
    }
  }
  return peers;
}

function exportKeysScript(kind, name) {
  const body =
    kind === 'esm'
      ? `const ns = await import(${JSON.stringify(name)});\nconst keys = Object.keys(ns).filter((k) => k !== 'default' && k !== 'module.exports');`
      : `const ns = require(${JSON.stringify(name)});\nconst keys = Object.keys(ns);`;
  return `${body}
if (keys.length === 0) throw new Error('no named exports');
const first = keys.sort()[0];
if (ns[first] === undefined) throw new Error('export ' + first + ' is undefined');
console.log(JSON.stringify(keys));
`;
}

function tfjsCoreCopies(projectDir) {
  const copies = [];
  const walk = (nodeModules) => {
    if (!existsSync(nodeModules)) return;
    for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      if (entry.name.startsWith('@')) {
        for (const scoped of readdirSync(join(nodeModules, entry.name), { withFileTypes: true })) {
          if (!scoped.isDirectory()) continue;
          const dir = join(nodeModules, entry.name, scoped.name);
          if (`${entry.name}/${scoped.name}` === '@tensorflow/tfjs-core') copies.push(dir);
          walk(join(dir, 'node_modules'));
        }
      } else if (entry.name !== '.bin') {
        walk(join(nodeModules, entry.name, 'node_modules'));
      }
    }
  };
  walk(join(projectDir, 'node_modules'));
  return copies;
}

async function installAndLoad(pkg, tarballs, byName, workDir) {
  const name = pkg.manifest.name;
  const projectDir = join(workDir, 'projects', name.replace('/', '__'));
  mkdirSync(projectDir, { recursive: true });
  const closure = internalClosure(name, byName);
  const dependencies = { ...externalPeers(closure, byName) };
  for (const internal of closure) dependencies[internal] = `file:${tarballs.get(internal).file}`;
  writeFileSync(
    join(projectDir, 'package.json'),
    JSON.stringify({ name: 'pack-check-consumer', version: '0.0.0', private: true, dependencies }, null, 2),
  );
  const install = await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', '--cache', npmCache],
    { cwd: projectDir },
  );
  const result = { closure: closure.length, esm: 'FAIL', cjs: 'FAIL', copies: '?', errors: [] };
  if (install.code !== 0) {
    result.errors.push(`npm install failed:\n${install.stderr.slice(-1500)}`);
    return result;
  }

  const ls = await run('npm', ['ls', '@tensorflow/tfjs-core', '--all', '--parseable'], { cwd: projectDir });
  const listed = new Set(ls.stdout.split('\n').filter((line) => line.trim().endsWith('@tensorflow/tfjs-core')));
  const onDisk = tfjsCoreCopies(projectDir);
  result.copies = String(Math.max(listed.size, onDisk.length));
  if (ls.code !== 0) result.errors.push(`npm ls exited ${ls.code}: ${(ls.stderr || ls.stdout).slice(0, 800)}`);
  if (listed.size !== 1 || onDisk.length !== 1) {
    result.errors.push(`expected one @tensorflow/tfjs-core, npm ls lists ${listed.size}, disk has ${onDisk.join(', ')}`);
  }

  // Every @mtljs package must have come from a tarball of this run, never from the registry.
  for (const internal of closure) {
    const installed = join(projectDir, 'node_modules', internal, 'package.json');
    if (!existsSync(installed)) result.errors.push(`${internal} is not installed at the top level`);
  }
  const nested = await run('npm', ['ls', '--all', '--json'], { cwd: projectDir });
  const fromRegistry = [];
  const visit = (deps) => {
    for (const [depName, info] of Object.entries(deps ?? {})) {
      if ((depName === 'mtljs' || depName.startsWith('@mtljs/')) && info.resolved && !info.resolved.startsWith('file:')) {
        fromRegistry.push(`${depName} <- ${info.resolved}`);
      }
      visit(info.dependencies);
    }
  };
  try {
    visit(JSON.parse(nested.stdout).dependencies);
  } catch {
    result.errors.push('npm ls --json did not answer JSON');
  }
  if (fromRegistry.length) result.errors.push(`@mtljs packages from the registry: ${fromRegistry.join(', ')}`);

  const esmFile = join(projectDir, 'check.mjs');
  const cjsFile = join(projectDir, 'check.cjs');
  writeFileSync(esmFile, exportKeysScript('esm', name));
  writeFileSync(cjsFile, exportKeysScript('cjs', name));
  const [esm, cjs] = await Promise.all([
    run(process.execPath, [esmFile], { cwd: projectDir }),
    run(process.execPath, [cjsFile], { cwd: projectDir }),
  ]);
  if (esm.code === 0) result.esm = 'ok';
  else result.errors.push(`ESM import failed:\n${esm.stderr.slice(-1200)}`);
  if (cjs.code === 0) result.cjs = 'ok';
  else result.errors.push(`CJS require failed:\n${cjs.stderr.slice(-1200)}`);
  if (esm.code === 0 && cjs.code === 0 && esm.stdout.trim() !== cjs.stdout.trim()) {
    result.esm = result.cjs = 'DIFF';
    result.errors.push(`ESM and CJS export different names:\n  esm ${esm.stdout.trim()}\n  cjs ${cjs.stdout.trim()}`);
  }

  for (const binName of Object.keys(typeof pkg.manifest.bin === 'string' ? { [name]: 0 } : pkg.manifest.bin ?? {})) {
    if (!existsSync(join(projectDir, 'node_modules', '.bin', binName))) result.errors.push(`bin ${binName} was not linked`);
  }
  return result;
}

async function checkPackage(pkg, tarballs, byName, workDir) {
  const name = pkg.manifest.name;
  const row = { name, publint: 'FAIL', attw: 'FAIL', esm: '-', cjs: '-', copies: '-', errors: [] };
  const missing = missingBuildOutput(pkg, tarballs.get(name)?.files);
  if (missing.length) {
    row.errors.push(`not built (missing ${missing.join(', ')}); run the build first`);
    return row;
  }
  const tarball = tarballs.get(name).file;
  const [lint, types] = await Promise.all([runPublint(tarball), runAttw(tarball)]);
  if (lint.length === 0) row.publint = 'ok';
  else row.errors.push(...lint.map((line) => `publint ${line}`));
  if (types.length === 0) row.attw = 'ok';
  else row.errors.push(...types.map((line) => `attw ${line}`));
  const loaded = await installAndLoad(pkg, tarballs, byName, workDir);
  row.esm = loaded.esm;
  row.cjs = loaded.cjs;
  row.copies = loaded.copies;
  row.errors.push(...loaded.errors);
  return row;
}

function printTable(rows) {
  const headers = ['package', 'publint', 'attw', 'ESM', 'CJS', 'tfjs-core copies'];
  const cells = rows.map((row) => [row.name, row.publint, row.attw, row.esm, row.cjs, row.copies]);
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((line) => line[column].length)));
  const line = (values) => values.map((value, column) => value.padEnd(widths[column])).join('  ');
  console.log(line(headers));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const values of cells) console.log(line(values));
}

async function main() {
  const started = Date.now();
  const packages = publishedPackages(only);
  if (packages.length === 0) throw new Error(`no published package matches ${only ? only.join(',') : 'packages/*'}`);
  // Outside the repo: a temp project inside the workspace would resolve the workspace's node_modules.
  const workDir = mkdtempSync(join(tmpdir(), 'mtljs-pack-check-'));
  const tarballDir = join(workDir, 'tarballs');
  mkdirSync(tarballDir);

  // Packs every published package even under --only: a package's @mtljs dependencies come from
  // these tarballs.
  const allPackages = publishedPackages();
  const byName = new Map(allPackages.map((pkg) => [pkg.manifest.name, pkg]));
  console.log(`packing ${allPackages.length} packages into ${tarballDir}`);
  const tarballs = await packAll(tarballDir);

  console.log(`checking ${packages.length} packages (jobs=${jobs}, npm cache ${npmCache})`);
  const rows = await mapLimit(packages, jobs, async (pkg) => {
    const name = pkg.manifest.name;
    const closure = internalClosure(name, byName);
    const unpacked = closure
      .filter((internal) => internal !== name)
      .filter((internal) => !tarballs.has(internal) || missingBuildOutput(byName.get(internal), tarballs.get(internal).files).length);
    if (unpacked.length) {
      const errors = [`needs packages that are not built or packed: ${unpacked.join(', ')}`];
      return { name, publint: '-', attw: '-', esm: '-', cjs: '-', copies: '-', errors };
    }
    const packageStarted = Date.now();
    const row = await checkPackage(pkg, tarballs, byName, workDir);
    const seconds = ((Date.now() - packageStarted) / 1000).toFixed(1);
    process.stdout.write(`${row.errors.length ? 'FAIL' : 'ok  '} ${name} (${seconds} s)\n`);
    return row;
  });

  console.log('');
  printTable(rows);
  const failed = rows.filter((row) => row.errors.length);
  for (const row of failed) {
    console.log(`\n${row.name}:`);
    for (const error of row.errors) console.log(`  ${error.replaceAll('\n', '\n    ')}`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`\n${rows.length - failed.length}/${rows.length} packages clean in ${seconds} s`);
  if (keep) console.log(`temp projects kept in ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
  process.exitCode = failed.length ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
