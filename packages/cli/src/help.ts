// The command-line interface's definitions: every command's options, from which both the
// argument parser and the help texts are made, so the help cannot miss an option.

/** One command-line option of a command. */
export interface OptionDefinition {
  /** Long name without dashes (`out` is `--out`). */
  name: string;
  /** One-letter alias without the dash (`o` is `-o`). */
  short?: string;
  /** `string` takes a value (numbers are parsed from it), `boolean` is a flag. */
  type: 'string' | 'boolean';
  /** The value's placeholder in help (`<dir>`). */
  value?: string;
  /** One line of help. */
  description: string;
  /** The default, as help shows it. */
  default?: string;
  /** Parsing fails (a usage error, exit 2) without it. */
  required?: boolean;
}

/** One `mtl` command: the parser's options and the text of its help. */
export interface CommandDefinition {
  /** The command word (`train`, `eval`, …). */
  name: string;
  /** Positional arguments as help shows them. */
  args: string;
  /** One line, lower case and without a final period, shown in `mtl --help` and (capitalised) atop the command's help. */
  summary: string;
  /** Lines of the command's help below the summary. */
  description: string[];
  /** The command's options, the common `--debug` and `--help` included (`help` takes `--help` only). */
  options: OptionDefinition[];
  /** Example command lines shown in help. */
  examples: string[];
  /** How many positional arguments it takes: [min, max]. */
  positionals: [number, number];
}

const COMMON: OptionDefinition[] = [
  { name: 'debug', type: 'boolean', description: 'on an error, also print its stack trace' },
  { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
];

const BACKEND: OptionDefinition = { name: 'backend', type: 'string', value: '<name>', description: "tfjs backend: 'auto', 'cpu', 'wasm', 'webgpu', 'node' or a plugin's", default: "the config's backend" };
const EPOCHS: OptionDefinition = { name: 'epochs', type: 'string', value: '<n>', description: 'epochs to train', default: "the config's epochs" };
const QUIET: OptionDefinition = { name: 'quiet', short: 'q', type: 'boolean', description: 'print nothing but errors' };

/** Every `mtl` command (train, eval, bench, tune, report, help), in help order; the parser and the help texts are made from it. */
export const COMMANDS: CommandDefinition[] = [
  {
    name: 'train',
    args: '<config.json>',
    summary: 'train a model from a config; writes a run log, checkpoints and an HTML report',
    positionals: [1, 1],
    description: [
      'Trains the model the config describes (see the README for every field) and writes its run',
      'folder: log.jsonl (the run log), config.json (the config as resolved), checkpoints/epoch-<n>.mtlckpt',
      '(at epoch ends), data-schema.json (for CSV/JSONL data) and report.html. With "baselines": true,',
      'also one single-task run per task in single-<task>/, and Δm% in the report.',
      'On a terminal, progress is one line redrawn in place (epoch, bar, steps, per-task running',
      'losses, current weights, steps/s) and a summary line per epoch; otherwise plain lines only.',
    ],
    options: [
      { name: 'out', short: 'o', type: 'string', value: '<dir>', description: 'run folder', default: 'the config\'s "out", else runs/<name>-<yyyymmdd-hhmmss>' },
      EPOCHS,
      { name: 'seed', type: 'string', value: '<n>', description: 'seed of initialisation, shuffling and weighting randomness', default: "the config's seed" },
      BACKEND,
      { name: 'log-every', type: 'string', value: '<n>', description: 'when stdout is not a terminal, also print a progress line every n steps', default: '0 = epoch lines only' },
      { name: 'no-report', type: 'boolean', description: 'do not write report.html' },
      QUIET,
    ],
    examples: ['mtl train examples/synthetic.json', 'mtl train examples/csv/config.json --out runs/houses --epochs 5'],
  },
  {
    name: 'eval',
    args: '<run-dir | checkpoint.mtlckpt>',
    summary: "evaluate a checkpoint (a run's last one by default) and print per-task metrics",
    positionals: [1, 1],
    description: [
      "Rebuilds the model from the run's config (the copy inside the checkpoint, else the run folder's",
      'config.json), loads the checkpoint and evaluates one split: per-task loss and metrics.',
    ],
    options: [
      { name: 'split', type: 'string', value: 'test|validation|train', description: 'the split to evaluate', default: 'test, else validation, else train' },
      { name: 'json', type: 'boolean', description: 'print the result as JSON (non-finite numbers as null)' },
      BACKEND,
    ],
    examples: ['mtl eval runs/synthetic-pcgrad-20250101-120000', 'mtl eval runs/x/checkpoints/epoch-1.mtlckpt --split validation --json'],
  },
  {
    name: 'bench',
    args: '<config.json>',
    summary: 'compare weightings (and sharings) on one dataset with the same seeds; ranked table',
    positionals: [1, 1],
    description: [
      'Trains every sharing × weighting combination once per seed on the same data (opened once), each',
      'in its own folder under --out; with "baselines": true in the config, also single-task runs per',
      'seed. Prints and writes a ranked table (bench.md, bench.json): per task its first metric on the',
      'final split, mean ± std over seeds, the mean task loss, Δm% with baselines, seconds per run;',
      'ranked by Δm% (higher first) with baselines, else by mean loss. Also one report.html of all runs.',
      'A weighting or sharing named here is used with its default options, unless it is the one the',
      'config names (then the config\'s options and site are kept).',
    ],
    options: [
      { name: 'weightings', short: 'w', type: 'string', value: '<a,b,…>', description: 'weightings to compare (registered names)', required: true },
      { name: 'sharings', short: 's', type: 'string', value: '<a,b,…>', description: 'sharing strategies to compare', default: "the config's sharing" },
      { name: 'seeds', type: 'string', value: '<1,2,…>', description: 'seeds; every combination runs with each', default: "the config's seed" },
      { name: 'out', short: 'o', type: 'string', value: '<dir>', description: 'folder of the runs and tables', default: 'runs/<name>-bench-<yyyymmdd-hhmmss>' },
      EPOCHS,
      BACKEND,
      QUIET,
    ],
    examples: ['mtl bench examples/synthetic.json --weightings ew,pcgrad,uncertainty --seeds 1,2,3'],
  },
  {
    name: 'tune',
    args: '<config.json>',
    summary: 'random or grid search over config values; trials ranked in a table',
    positionals: [1, 1],
    description: [
      'The space file maps config paths to choices or ranges, e.g.',
      '  { "optimizer.learningRate": { "min": 1e-4, "max": 1e-2, "log": true },',
      '    "weighting.options.alpha": [0.5, 1.5], "model.encoder.units": [[64, 32], [128, 64]] }',
      'A range is { "min", "max", "log"?: log-uniform, "integer"?: rounded, "steps"?: values in a grid }.',
      'Every trial\'s config is validated like a config file before any trains; each trains with the',
      "config's seed (--seed seeds only the sampling). Trials are ranked by the objective, best first;",
      'a trial that fails at run time (e.g. NON_FINITE_LOSS) ranks last. Writes tune.md, tune.json and',
      'report.html under --out, one folder per trial.',
    ],
    options: [
      { name: 'space', type: 'string', value: '<space.json>', description: 'the search space', required: true },
      { name: 'method', type: 'string', value: 'random|grid', description: 'how trials are chosen', default: 'random' },
      { name: 'trials', short: 'n', type: 'string', value: '<n>', description: 'random: trials to sample; grid: at most this many combinations', default: '10 (random), every combination (grid)' },
      { name: 'seed', type: 'string', value: '<n>', description: 'seed of the trial sampling', default: '0' },
      { name: 'metric', type: 'string', value: '<task:metric>', description: "objective, in the metric's direction (e.g. left:accuracy, price:rmse, price:loss)", default: 'mean validation loss over tasks (lower is better)' },
      { name: 'out', short: 'o', type: 'string', value: '<dir>', description: 'folder of the trials and tables', default: 'runs/<name>-tune-<yyyymmdd-hhmmss>' },
      EPOCHS,
      BACKEND,
      QUIET,
    ],
    examples: ['mtl tune examples/synthetic.json --space space.json --trials 20', 'mtl tune config.json --space space.json --method grid --metric left:accuracy'],
  },
  {
    name: 'report',
    args: '<run-dir | log.jsonl> …',
    summary: 'render runs into one self-contained HTML report',
    positionals: [1, Number.POSITIVE_INFINITY],
    description: [
      'Reads the run logs given (a folder is searched for log.jsonl files, three levels deep, so a',
      'bench or tune folder gives all its runs) and writes one HTML page that needs no network:',
      'per-task losses, task weights, validation metrics, the mean task-gradient cosine heatmap, and',
      'a Δm% table when single-task runs (role "single-task") are among them.',
    ],
    options: [
      { name: 'out', short: 'o', type: 'string', value: '<file>', description: 'the HTML file', default: '<run-dir>/report.html for one folder, else ./report.html' },
      { name: 'title', type: 'string', value: '<text>', description: 'page title', default: "the run's name, or 'mtljs training report'" },
    ],
    examples: ['mtl report runs/synthetic-pcgrad-20250101-120000', 'mtl report runs/a/log.jsonl runs/b/log.jsonl --out compare.html'],
  },
  {
    name: 'help',
    args: '[command]',
    summary: 'show help for mtl or one command',
    positionals: [0, 1],
    description: [],
    options: [],
    examples: ['mtl help train'],
  },
];

for (const command of COMMANDS) command.options.push(...COMMON.filter((c) => command.name !== 'help' || c.name === 'help'));

export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0    success',
  '  1    training or evaluation failed at run time (e.g. NON_FINITE_LOSS)',
  '  2    usage or config error: bad arguments, BAD_CONFIG, UNKNOWN_PLUGIN (the message names the field)',
  '  3    data or checkpoint error: BAD_DATA, BAD_CHECKPOINT, SHAPE_MISMATCH, or a file that does not exist',
  "  130  interrupted (Ctrl-C): the run log ends with status 'interrupted'; what was written is kept",
];

function optionLines(options: readonly OptionDefinition[]): string[] {
  const heads = options.map((o) => `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.value}` : ''}`);
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  return options.map((o, i) => {
    const notes = [o.required ? 'required' : '', o.default ? `default: ${o.default}` : ''].filter(Boolean).join('; ');
    return `  ${heads[i]!.padEnd(width)}${o.description}${notes ? ` (${notes})` : ''}`;
  });
}

export function commandDefinition(name: string): CommandDefinition | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/** `mtl --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length)) + 2;
  return [
    'mtl: train, evaluate, compare, tune and report mtljs multi-task models from a JSON config',
    '',
    'Usage: mtl <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}${c.summary}`),
    '',
    'Options of every command:',
    ...optionLines(COMMON),
    '',
    ...EXIT_CODES_HELP,
    '',
    "Errors are printed as 'mtl: <message>' on stderr (a stack trace only with --debug).",
    'Run `mtl help <command>` or `mtl <command> --help` for its options.',
    '',
  ].join('\n');
}

/** `mtl help <command>`. */
export function commandHelp(command: CommandDefinition): string {
  return [
    `Usage: mtl ${command.name} ${command.args}${command.options.length ? ' [options]' : ''}`,
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.description.length ? ['', ...command.description] : []),
    '',
    'Options:',
    ...optionLines(command.options),
    '',
    'Examples:',
    ...command.examples.map((e) => `  ${e}`),
    '',
    ...EXIT_CODES_HELP,
    '',
  ].join('\n');
}
