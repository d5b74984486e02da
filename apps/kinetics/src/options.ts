import { MtlError } from '@mtljs/core';
import type { ComparisonOptions } from './experiment';

export interface MainOptions extends Omit<ComparisonOptions, 'log'> {
  /** Where the results JSON goes. */
  out: string;
  help: boolean;
}

export const USAGE = `node dist/main.js [options]

Chemical kinetics with mtljs: predicts ln k and the activation energy Ea of generated Arrhenius
reactions, with single-task networks and hard sharing + equal / uncertainty weighting.

  --seeds=N | --seeds=a,b,c   replicates: seeds 1..N, or the seeds listed (default 3)
  --epochs=N                  passes over the training split; sets every model's step budget (default 30)
  --train-size=N              training reactions (default 2000)
  --test-size=N               test reactions, all labelled (default 2000)
  --labelled-ea=f[,f...]      regimes: fraction of training reactions with an Ea label (default 1,0.1,0.03)
  --batch=N                   batch size (default 64)
  --lr=X                      peak Adam learning rate, cosine decay to lr/20 (default 0.03)
  --encoder=a,b               shared encoder widths (default 64,64)
  --head=a                    head hidden widths, empty for none (default 32)
  --out=PATH                  results JSON (default results.json beside package.json)
  --help                      this text

Exit codes: 0 done; 1 an error (a bad option is named in the message).`;

const DEFAULTS = {
  seeds: '3',
  epochs: '30',
  'train-size': '2000',
  'test-size': '2000',
  'labelled-ea': '1,0.1,0.03',
  batch: '64',
  lr: '0.03',
  encoder: '64,64',
  head: '32',
} as const;

type Name = keyof typeof DEFAULTS | 'out' | 'help';
const NAMES = new Set<string>([...Object.keys(DEFAULTS), 'out', 'help']);

function fail(name: string, expected: string, value: string): never {
  throw new MtlError('BAD_CONFIG', `option --${name}: expected ${expected}, got '${value}'`, { column: `--${name}`, expected, received: value });
}

function integer(name: string, value: string, minimum: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < minimum) fail(name, `an integer ≥ ${minimum}`, value);
  return n;
}

function integers(name: string, value: string, allowEmpty: boolean): number[] {
  if (value.trim() === '') return allowEmpty ? [] : fail(name, 'a comma-separated list of positive integers', value);
  return value.split(',').map((part) => integer(name, part, 1));
}

/** Parses `--name=value` / `--name value` arguments; unknown or malformed options are BAD_CONFIG errors naming the option. */
export function parseOptions(argv: readonly string[], defaultOut: string): MainOptions {
  const given: Partial<Record<Name, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new MtlError('BAD_CONFIG', `unexpected argument '${arg}'; options look like --name=value (see --help)`, { received: arg });
    const name = match[1]!;
    if (!NAMES.has(name)) {
      throw new MtlError('BAD_CONFIG', `unknown option --${name}; known: ${[...NAMES].map((n) => `--${n}`).join(', ')}`, { column: `--${name}`, available: [...NAMES] });
    }
    if (name === 'help') {
      given.help = 'true';
      continue;
    }
    let value = match[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) fail(name, 'a value', '');
      i += 1;
    }
    given[name as Name] = value;
  }
  const get = (name: keyof typeof DEFAULTS) => given[name] ?? DEFAULTS[name];
  const seedsText = get('seeds');
  const seeds = seedsText.includes(',')
    ? seedsText.split(',').map((part) => {
        const n = Number(part);
        if (part.trim() === '' || !Number.isInteger(n)) fail('seeds', 'a count or a comma-separated list of integers', seedsText);
        return n;
      })
    : Array.from({ length: integer('seeds', seedsText, 1) }, (_, i) => i + 1);
  const labelledEa = get('labelled-ea')
    .split(',')
    .map((part) => {
      const f = Number(part);
      if (part.trim() === '' || !(f > 0 && f <= 1)) fail('labelled-ea', 'comma-separated fractions in (0, 1]', get('labelled-ea'));
      return f;
    });
  const learningRate = Number(get('lr'));
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) fail('lr', 'a positive number', get('lr'));
  return {
    seeds,
    epochs: integer('epochs', get('epochs'), 1),
    trainSize: integer('train-size', get('train-size'), 2),
    testSize: integer('test-size', get('test-size'), 1),
    labelledEa,
    batchSize: integer('batch', get('batch'), 1),
    learningRate,
    encoder: integers('encoder', get('encoder'), false),
    head: integers('head', get('head'), true),
    out: given.out ?? defaultOut,
    help: given.help !== undefined,
  };
}
