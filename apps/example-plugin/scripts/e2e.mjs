// Installs the plugin and mtljs the way a stranger would, from packed tarballs into a project
// outside the workspace, then trains with the plugin from a script and from `mtl train`.
// Needs the workspace built (`pnpm build`). Exits non-zero, with the reason, on any failure.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const exampleDir = resolve(here, '..');
const workspaceRoot = resolve(exampleDir, '../..');
const keep = process.argv.includes('--keep');
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (line) => console.log(`[e2e ${elapsed()}] ${line}`);

function run(command, args, cwd) {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}

function fail(message) {
  throw new Error(message);
}

// Workspace packages by name, and the closure of what the app installs: packages that are not on
// the registry have to come from tarballs too, or npm would try to download them.
const workspacePackages = new Map();
for (const entry of readdirSync(join(workspaceRoot, 'packages'))) {
  const file = join(workspaceRoot, 'packages', entry, 'package.json');
  if (existsSync(file)) {
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    workspacePackages.set(manifest.name, { dir: dirname(file), manifest });
  }
}
const needed = new Set();
const pending = ['mtljs', '@mtljs/cli', '@mtljs/core', '@mtljs/testkit'];
while (pending.length > 0) {
  const name = pending.pop();
  if (needed.has(name)) continue;
  const found = workspacePackages.get(name) ?? fail(`workspace package ${name} not found under packages/`);
  needed.add(name);
  const { dependencies = {}, peerDependencies = {}, peerDependenciesMeta = {} } = found.manifest;
  for (const dependency of Object.keys(dependencies)) if (workspacePackages.has(dependency)) pending.push(dependency);
  for (const peer of Object.keys(peerDependencies)) {
    if (workspacePackages.has(peer) && !peerDependenciesMeta[peer]?.optional) pending.push(peer);
  }
}

const work = mkdtempSync(join(tmpdir(), 'mtljs-example-plugin-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
let failed = true;
try {
  const tarballOf = new Map();
  const packInto = (name, dir, command, args) => {
    const before = new Set(readdirSync(tarballs));
    run(command, args, dir);
    const created = readdirSync(tarballs).filter((file) => !before.has(file));
    if (created.length !== 1) fail(`packing ${name} made ${created.length} files: ${created.join(', ')}`);
    tarballOf.set(name, created[0]);
  };
  for (const name of needed) {
    if (!existsSync(join(workspacePackages.get(name).dir, 'dist'))) fail(`${name} has no dist/; run \`pnpm build\` in ${workspaceRoot} first`);
  }
  // One recursive pnpm pack (one pnpm start, not one per package); pnpm rewrites workspace:
  // ranges to versions, as `pnpm publish` would. Another engineer's build can be under way
  // (tsup empties dist/ first), so an incomplete tarball is packed again after a pause.
  const filters = [...needed].sort().flatMap((name) => ['--filter', name]);
  const incompleteTarballs = () => {
    const problems = [];
    for (const name of needed) {
      const { manifest } = workspacePackages.get(name);
      const file = `${name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`;
      if (!existsSync(join(tarballs, file))) fail(`pnpm pack made no ${file} for ${name}`);
      tarballOf.set(name, file);
      const listing = run('tar', ['tzf', join(tarballs, file)], tarballs);
      for (const built of ['package/dist/index.js', 'package/dist/index.cjs']) {
        if (!listing.includes(built)) problems.push(`${file} lacks ${built.slice('package/'.length)}`);
      }
    }
    return problems;
  };
  for (let attempt = 1; ; attempt++) {
    run('npx', ['-y', 'pnpm@10.34.9', '-r', ...filters, 'pack', '--pack-destination', tarballs], workspaceRoot);
    const problems = incompleteTarballs();
    if (problems.length === 0) break;
    if (attempt === 3) fail(`${problems.join('; ')}: dist/ incomplete after ${attempt} tries; run \`pnpm build\` and retry`);
    log(`${problems.join('; ')} (a build running?); packing again in 30 s`);
    await new Promise((wake) => setTimeout(wake, 30_000));
  }
  log(`packed ${needed.size} workspace packages with pnpm pack`);
  // The plugin as its author works on it: a copy outside the workspace whose mtljs packages come
  // from the tarballs; its own build and its own conformance tests; the tarball packed from there.
  const plugin = join(work, 'plugin');
  cpSync(join(exampleDir, 'plugin'), plugin, { recursive: true, filter: (source) => !/node_modules|[\\/]dist$/.test(source) });
  const pluginManifest = JSON.parse(readFileSync(join(plugin, 'package.json'), 'utf8'));
  for (const [name, file] of tarballOf) pluginManifest.devDependencies[name] = `file:../tarballs/${file}`;
  writeFileSync(join(plugin, 'package.json'), `${JSON.stringify(pluginManifest, null, 2)}\n`);
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], plugin);
  run('npm', ['run', 'typecheck'], plugin);
  run('npm', ['run', 'build'], plugin);
  const pluginTests = run('npm', ['test'], plugin);
  const passed = /Tests\s+(\d+) passed/.exec(pluginTests.replace(/\x1b\[[0-9;]*m/g, ''))?.[1] ?? fail(`the plugin's tests printed no pass count:\n${pluginTests}`);
  log(`plugin outside the workspace: npm install, typecheck, build, npm test (${passed} tests passed)`);
  packInto('mtljs-weighting-sign-agreement', plugin, 'npm', ['pack', '--pack-destination', tarballs]);
  log(`packed mtljs-weighting-sign-agreement with npm pack`);

  const app = join(work, 'app');
  cpSync(join(exampleDir, 'app'), app, { recursive: true, filter: (source) => !/node_modules|[\\/]runs$/.test(source) });
  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  for (const [name, file] of tarballOf) manifest.dependencies[name] = `file:../tarballs/${file}`;
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
  log(`installed ${tarballOf.size} tarballs into ${app}`);

  const tfjsCores = run('find', ['node_modules', '-path', '*/@tensorflow/tfjs-core/package.json'], app).trim().split('\n').filter(Boolean);
  if (tfjsCores.length !== 1) fail(`expected one copy of @tensorflow/tfjs-core, found ${tfjsCores.length}: ${tfjsCores.join(', ')}`);
  const pluginCopies = run('find', ['node_modules', '-path', '*/mtljs-weighting-sign-agreement/package.json'], app).trim().split('\n');
  if (pluginCopies.length !== 1) fail(`expected one copy of the plugin, found ${pluginCopies.join(', ')}`);

  // CommonJS consumers get the .cjs build, with the same plugin.
  const required = run('node', ['-e', "const { plugins } = require('mtljs-weighting-sign-agreement'); const p = plugins[0](); console.log(p.kind + ':' + p.name + ' ' + require.resolve('mtljs-weighting-sign-agreement'))"], app).trim();
  if (!/^weighting:sign-agreement \S+\.cjs$/.test(required)) fail(`require() of the plugin gave ${JSON.stringify(required)}`);
  log(`require() loads ${required}`);
  const script = run('node', ['train.mjs'], app);
  process.stdout.write(script);
  const loadedFrom = /plugin loaded from (\S+)/.exec(script)?.[1] ?? fail('train.mjs did not say where the plugin came from');
  if (!fileURLToPath(loadedFrom).startsWith(join(app, 'node_modules', 'mtljs-weighting-sign-agreement'))) {
    fail(`the plugin was loaded from ${loadedFrom}, not from the app's node_modules`);
  }
  const taskLines = script.split('\n').filter((line) => /^task \S+: validation loss \d/.test(line));
  if (taskLines.length !== 2) fail(`train.mjs printed ${taskLines.length} per-task result lines, expected 2`);
  log('train.mjs trained with the plugin');

  const cli = run('npx', ['--no-install', 'mtl', 'train', 'config.json', '--out', 'runs/cli', '--no-report'], app);
  process.stdout.write(cli);
  const records = readFileSync(join(app, 'runs/cli/log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const runRecord = records.find((record) => record.type === 'run') ?? fail('the run log has no run record');
  if (runRecord.weighting !== 'sign-agreement') fail(`the run log names weighting ${JSON.stringify(runRecord.weighting)}, expected 'sign-agreement'`);
  const end = records.find((record) => record.type === 'end');
  if (end?.status !== 'completed') fail(`the run did not complete: ${JSON.stringify(end)}`);
  log(`mtl train loaded the plugin by package name; run log: weighting '${runRecord.weighting}', site '${runRecord.site}', status ${end.status}`);
  failed = false;
} finally {
  if (keep || failed) log(`left ${work} for inspection${keep ? '' : ' (failed)'}`);
  else rmSync(work, { recursive: true, force: true });
}
log(`passed in ${elapsed()} (${relative(workspaceRoot, exampleDir)})`);
