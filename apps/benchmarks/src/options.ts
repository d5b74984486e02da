import { MtlError, type GradientSite } from '@mtljs/core';

export type DatasetName = 'multi-mnist' | 'multi-fashion';

export interface BenchmarkOptions {
  dataset: DatasetName;
  /** Training images used (the first ones of the 60,000). */
  trainSize: number;
  /** Test images used (the first ones of the 10,000). */
  testSize: number;
  epochs: number;
  /** Every method runs once per seed: the seed fixes the model's initialisation, the data order and the weighting's randomness. */
  seeds: number[];
  /** Registered weighting names, or 'all' (every weighting in the registry). */
  weightings: string[] | 'all';
  /** Reuse runs whose log in the results folder shows them completed with the same settings. */
  resume: boolean;
  /** Whether to train the single-task baselines (needed for Δm%). */
  baselines: boolean;
  /** Folder of results-<dataset>.json/.md and results/<dataset>/ (logs, report.html). */
  out: string;
  batchSize: number;
  learningRate: number;
  /** A registered backend name, or 'auto'. */
  backend: string;
  /** Gradient site for gradient-level weightings that support it; 'default' keeps each weighting's first site. */
  site: GradientSite | 'default';
  /** A step record every N steps in the run logs. */
  logEvery: number;
  /** A probed Gramian (features site) every N steps for weightings that compute none; 0 turns probing off. */
  probeEvery: number;
  /** Seed of MultiMNIST's pairing of images (the same data for every seed of the runs). */
  dataSeed: number;
  help: boolean;
}

export const DEFAULT_OPTIONS: Omit<BenchmarkOptions, 'out'> = {
  dataset: 'multi-mnist',
  trainSize: 10_000,
  testSize: 10_000,
  epochs: 1,
  seeds: [0],
  weightings: 'all',
  resume: false,
  baselines: true,
  batchSize: 128,
  learningRate: 2e-3,
  backend: 'wasm',
  site: 'default',
  logEvery: 1,
  probeEvery: 10,
  dataSeed: 0,
  help: false,
};

export const USAGE = `Usage: node dist/main.js [options]

Trains every registered weighting (or those named) with hard sharing on MultiMNIST or
MultiFashion, plus single-task baselines, all with the same seeds and data order, and writes
<out>/results-<dataset>.json, <out>/results-<dataset>.md and <out>/results/<dataset>/
(one run log per run and report.html).

Options (--name=value or --name value):
  --dataset=multi-mnist|multi-fashion   (default multi-mnist)
  --train-size=N       training images, the first N of 60,000 (default ${DEFAULT_OPTIONS.trainSize})
  --test-size=N        test images, the first N of 10,000 (default ${DEFAULT_OPTIONS.testSize})
  --epochs=N           (default ${DEFAULT_OPTIONS.epochs})
  --seeds=0,1,...      one run per method and seed (default 0)
  --weightings=a,b,... registered weighting names, or 'all' (default all)
  --no-baselines       skip the single-task runs (then no Δm%)
  --resume             reuse the runs whose log in the results folder shows them
                       completed with the same settings (after an interrupted invocation)
  --out=DIR            (default: this app's folder)
  --batch-size=N       (default ${DEFAULT_OPTIONS.batchSize})
  --lr=X               Adam's learning rate (default ${DEFAULT_OPTIONS.learningRate})
  --backend=NAME       a registered backend or 'auto' (default ${DEFAULT_OPTIONS.backend})
  --site=default|shared|last-shared|features
                       gradient site of gradient-level weightings that support it
                       (default: each weighting's own default)
  --log-every=N        a step record every N steps (default ${DEFAULT_OPTIONS.logEvery})
  --probe-every=N      probe the task Gramian every N steps when the weighting computes
                       none; 0: never (default ${DEFAULT_OPTIONS.probeEvery})
  --data-seed=N        seed of the image pairing (default ${DEFAULT_OPTIONS.dataSeed})
  --help

Exit codes: 0 every run completed; 1 a run failed (the others are still in the table) or an
unexpected error; 2 bad options.`;

const SITES = ['default', 'shared', 'last-shared', 'features'] as const;

const NAMES = [
  'dataset',
  'train-size',
  'test-size',
  'epochs',
  'seeds',
  'weightings',
  'no-baselines',
  'resume',
  'out',
  'batch-size',
  'lr',
  'backend',
  'site',
  'log-every',
  'probe-every',
  'data-seed',
  'help',
] as const;
type Name = (typeof NAMES)[number];
const FLAGS: readonly Name[] = ['no-baselines', 'resume', 'help'];

function bad(option: string, message: string, received?: unknown): MtlError {
  return new MtlError('BAD_CONFIG', `--${option}: ${message}`, { field: option, received });
}

function integer(option: string, text: string, minimum: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < minimum) throw bad(option, `expected an integer ≥ ${minimum}, got '${text}'`, text);
  return value;
}

/** Reads `--name=value`, `--name value` and flags; throws MtlError BAD_CONFIG naming the option at fault. */
export function parseOptions(argv: readonly string[], defaultOut: string): BenchmarkOptions {
  const given = new Map<Name, string>();
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!;
    if (!argument.startsWith('--')) throw new MtlError('BAD_CONFIG', `unexpected argument '${argument}'; options start with -- (see --help)`, { received: argument });
    const equals = argument.indexOf('=');
    const name = (equals < 0 ? argument.slice(2) : argument.slice(2, equals)) as Name;
    if (!NAMES.includes(name)) {
      throw new MtlError('BAD_CONFIG', `unknown option --${name}; known: ${NAMES.map((n) => `--${n}`).join(', ')}`, { field: name, available: [...NAMES] });
    }
    if (given.has(name)) throw bad(name, 'given twice');
    if (FLAGS.includes(name)) {
      if (equals >= 0) throw bad(name, 'is a flag and takes no value', argument.slice(equals + 1));
      given.set(name, 'true');
      continue;
    }
    let value: string | undefined;
    if (equals >= 0) value = argument.slice(equals + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i];
    if (value === undefined) throw bad(name, 'needs a value');
    given.set(name, value);
  }

  const options: BenchmarkOptions = { ...DEFAULT_OPTIONS, out: defaultOut };
  for (const [name, value] of given) {
    switch (name) {
      case 'dataset':
        if (value !== 'multi-mnist' && value !== 'multi-fashion') throw bad(name, `expected multi-mnist or multi-fashion, got '${value}'`, value);
        options.dataset = value;
        break;
      case 'train-size':
        options.trainSize = integer(name, value, 1);
        break;
      case 'test-size':
        options.testSize = integer(name, value, 1);
        break;
      case 'epochs':
        options.epochs = integer(name, value, 1);
        break;
      case 'seeds': {
        const seeds = value.split(',').map((part) => integer(name, part, 0));
        if (new Set(seeds).size !== seeds.length) throw bad(name, `a seed is listed twice in '${value}'`, value);
        options.seeds = seeds;
        break;
      }
      case 'weightings': {
        if (value === 'all') {
          options.weightings = 'all';
          break;
        }
        const names = value.split(',').map((part) => part.trim());
        if (names.some((part) => part === '')) throw bad(name, `expected a comma-separated list of weighting names, got '${value}'`, value);
        if (new Set(names).size !== names.length) throw bad(name, `a weighting is listed twice in '${value}'`, value);
        options.weightings = names;
        break;
      }
      case 'no-baselines':
        options.baselines = false;
        break;
      case 'resume':
        options.resume = true;
        break;
      case 'out':
        if (value === '') throw bad(name, 'expected a folder');
        options.out = value;
        break;
      case 'batch-size':
        options.batchSize = integer(name, value, 1);
        break;
      case 'lr': {
        const rate = Number(value);
        if (value.trim() === '' || !Number.isFinite(rate) || rate <= 0) throw bad(name, `expected a positive number, got '${value}'`, value);
        options.learningRate = rate;
        break;
      }
      case 'backend':
        if (value === '') throw bad(name, 'expected a backend name or auto');
        options.backend = value;
        break;
      case 'site':
        if (!(SITES as readonly string[]).includes(value)) throw bad(name, `expected one of ${SITES.join(', ')}, got '${value}'`, value);
        options.site = value as BenchmarkOptions['site'];
        break;
      case 'log-every':
        options.logEvery = integer(name, value, 1);
        break;
      case 'probe-every':
        options.probeEvery = integer(name, value, 0);
        break;
      case 'data-seed':
        options.dataSeed = integer(name, value, 0);
        break;
      case 'help':
        options.help = true;
        break;
    }
  }
  return options;
}
