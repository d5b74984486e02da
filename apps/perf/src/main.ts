import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMtlError, useBackend, type GradientSite } from 'mtljs';
import { runBench, type BenchOptions, type Trunk } from './bench';
import { acceptance, markdown, replaceTable } from './report';

// `pnpm bench`: the engine's cost benchmarks (issue 11). Writes benchmarks/results/<date>.json and
// the table in benchmarks/README.md at the repository root.

const USAGE = `usage: node apps/perf/dist/main.js [--backend=wasm] [--steps=20] [--warmup=5] [--tasks=2,8,40]
       [--trunks=mlp,conv] [--weightings=a,b] [--sites=shared,features] [--batch=256] [--leak-steps=500] [--leak-batch=16] [--out=<dir>] [--no-write]`;

function parse(argv: string[]): BenchOptions & { backend: string; out: string; write: boolean } {
  const values = new Map<string, string>();
  for (const arg of argv) {
    if (arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    values.set(match[1]!, match[2] ?? 'true');
  }
  const known = ['backend', 'steps', 'warmup', 'tasks', 'trunks', 'weightings', 'sites', 'batch', 'leak-steps', 'leak-batch', 'out', 'no-write'];
  for (const key of values.keys()) if (!known.includes(key)) throw new Error(`unknown option --${key}\n${USAGE}`);
  const int = (key: string, fallback: number) => {
    const value = Number(values.get(key) ?? fallback);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${key} must be a non-negative integer`);
    return value;
  };
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const trunks = (values.get('trunks') ?? 'mlp,conv').split(',');
  const badTrunk = trunks.find((trunk) => trunk !== 'mlp' && trunk !== 'conv');
  if (badTrunk !== undefined) throw new Error(`--trunks takes mlp and/or conv, got '${badTrunk}'`);
  const tasks = (values.get('tasks') ?? '2,8,40').split(',').map(Number);
  if (tasks.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--tasks takes positive integers, got '${values.get('tasks')}'`);
  const sites = values.has('sites') ? values.get('sites')!.split(',') : undefined;
  const badSite = sites?.find((site) => !['shared', 'features', 'last-shared'].includes(site));
  if (badSite !== undefined) throw new Error(`--sites takes shared, features and/or last-shared, got '${badSite}'`);
  return {
    backend: values.get('backend') ?? 'wasm',
    steps: Math.max(1, int('steps', 20)),
    warmup: int('warmup', 5),
    tasks,
    trunks: trunks as Trunk[],
    ...(values.has('weightings') ? { weightings: values.get('weightings')!.split(',') } : {}),
    ...(sites ? { sites: sites as GradientSite[] } : {}),
    batchSize: int('batch', 256),
    leakSteps: int('leak-steps', 500),
    leakBatch: Math.max(1, int('leak-batch', 16)),
    out: resolve(values.get('out') ?? join(root, 'benchmarks')),
    write: !values.has('no-write'),
  };
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  await useBackend(options.backend, { log: () => {} });
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const started = Date.now();
  const rows = await runBench({ ...options, log: (line) => console.log(line) });
  clearInterval(timer);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const date = new Date().toISOString().slice(0, 10);
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, Node ${process.version}, ${process.platform}`;
  const command = `pnpm bench ${process.argv.slice(2).join(' ')}`.trim();
  const meta = { command, machine, date, backend: options.backend, steps: options.steps, warmup: options.warmup, peakRssMiB: peakRss / 2 ** 20, batch: options.batchSize, leakBatch: options.leakBatch };
  const checks = acceptance(rows);
  for (const check of checks) console.log(`${check.pass ? 'PASS' : 'FAIL'} ${check.point}. ${check.what}: ${check.measured}`);
  console.log(`${rows.length} configurations in ${((Date.now() - started) / 1000).toFixed(0)} s; peak RSS ${meta.peakRssMiB.toFixed(0)} MiB`);
  if (!options.write) return;
  mkdirSync(join(options.out, 'results'), { recursive: true });
  const file = join(options.out, 'results', `${date}.json`);
  writeFileSync(file, `${JSON.stringify({ ...meta, options: { ...options, out: undefined }, checks, rows }, null, 2)}\n`);
  const readmePath = join(options.out, 'README.md');
  const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '# Benchmarks\n';
  writeFileSync(readmePath, replaceTable(readme, markdown(rows, meta)));
  console.log(`wrote ${file} and ${readmePath}`);
}

main().catch((error: unknown) => {
  console.error(isMtlError(error) ? `mtl bench: ${error.message}` : error);
  process.exit(1);
});
