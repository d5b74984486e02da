import { parseArgs } from 'node:util';
import { isMtlError, MtlError } from '@mtljs/core';
import { bench } from './bench';
import { suggestion } from './config';
import { evaluateRun } from './evaluate';
import { EXIT_CODES, exitCodeFor, isInterrupted } from './exit-codes';
import { COMMANDS, commandDefinition, commandHelp, mainHelp, type CommandDefinition } from './help';
import { evaluationLines, type ProgressStream } from './progress';
import { reportRuns } from './report-command';
import { train } from './train';
import { tune } from './tune';

/** The streams and the interrupt signal {@link runCli} works with (the `mtl` binary passes the process's). */
export interface CliIO {
  /** Progress, results and help (process.stdout). */
  stdout: ProgressStream;
  /** Errors (process.stderr). */
  stderr: {
    /** Writes text as given (it ends with its own newline). */
    write(text: string): unknown;
  };
  /** Fired on Ctrl-C: a running training stops after its step and the command exits 130. */
  signal?: AbortSignal;
}

type Values = Record<string, string | boolean | undefined>;

function usageError(message: string): MtlError {
  return new MtlError('BAD_CONFIG', message, { usage: true });
}

function parse(command: CommandDefinition, args: string[]): { values: Values; positionals: string[] } {
  const options = Object.fromEntries(command.options.map((o) => [o.name, { type: o.type, ...(o.short ? { short: o.short } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
    if (unknown) {
      const hint = suggestion(unknown[1]!.replace(/^-+/, ''), command.options.map((o) => o.name)).replace(/'([^']+)'/, "'--$1'");
      throw usageError(`mtl ${command.name}: unknown option ${unknown[1]}${hint}; see mtl help ${command.name}`);
    }
    throw usageError(`mtl ${command.name}: ${message.replace(/\. To specify.*$/s, '')}; see mtl help ${command.name}`);
  }
  const values = parsed.values as Values;
  if (values.help) return { values, positionals: parsed.positionals };
  const [min, max] = command.positionals;
  if (parsed.positionals.length < min) throw usageError(`mtl ${command.name}: missing ${command.args}; usage: mtl ${command.name} ${command.args} [options]`);
  if (parsed.positionals.length > max) throw usageError(`mtl ${command.name}: unexpected argument '${parsed.positionals[max]}'; usage: mtl ${command.name} ${command.args} [options]`);
  for (const option of command.options) {
    if (option.required && values[option.name] === undefined) throw usageError(`mtl ${command.name}: --${option.name} ${option.value ?? ''} is required`.trimEnd());
  }
  return { values, positionals: parsed.positionals };
}

function integer(values: Values, name: string, min: number): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isInteger(value) || value < min) {
    throw usageError(`--${name}: expected ${min > 0 ? 'a positive' : 'a non-negative'} integer, got '${String(text)}'`);
  }
  return value;
}

function list(values: Values, name: string): string[] | undefined {
  const text = values[name];
  if (typeof text !== 'string') return undefined;
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw usageError(`--${name}: expected a comma-separated list, got '${text}'`);
  return items;
}

function choice<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  if (!allowed.includes(text as T)) throw usageError(`--${name}: expected ${allowed.join(' or ')}, got '${String(text)}'`);
  return text as T;
}

function string(values: Values, name: string): string | undefined {
  const text = values[name];
  return typeof text === 'string' ? text : undefined;
}

function jsonNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

async function runCommand(command: CommandDefinition, values: Values, positionals: string[], io: CliIO): Promise<void> {
  const quiet = values.quiet === true;
  const stream = quiet ? undefined : io.stdout;
  const common = { ...(stream ? { stream } : {}), ...(io.signal ? { signal: io.signal } : {}) };
  const backend = string(values, 'backend');
  const epochs = integer(values, 'epochs', 1);
  switch (command.name) {
    case 'train': {
      const logEvery = integer(values, 'log-every', 0);
      const seed = integer(values, 'seed', 0);
      const out = string(values, 'out');
      await train({
        config: positionals[0]!,
        ...common,
        ...(out !== undefined ? { out } : {}),
        ...(epochs !== undefined ? { epochs } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(backend !== undefined ? { backend } : {}),
        ...(logEvery !== undefined ? { logEvery } : {}),
        report: values['no-report'] !== true,
      });
      return;
    }
    case 'eval': {
      const split = choice(values, 'split', ['test', 'validation', 'train'] as const);
      const json = values.json === true;
      const result = await evaluateRun({
        target: positionals[0]!,
        ...(split ? { split } : {}),
        ...(backend !== undefined ? { backend } : {}),
        ...(json ? {} : { stream: io.stdout }),
      });
      if (json) {
        io.stdout.write(`${JSON.stringify({ checkpoint: result.checkpoint, epoch: result.epoch, step: result.step, split: result.split, tasks: result.report.tasks }, jsonNumbers, 2)}\n`);
      } else {
        io.stdout.write(`checkpoint ${result.checkpoint} (epoch ${result.epoch}, step ${result.step}); split ${result.split}:\n${evaluationLines(result.report).join('\n')}\n`);
      }
      return;
    }
    case 'bench': {
      const seeds = list(values, 'seeds')?.map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0) throw usageError(`--seeds: expected non-negative integers, got '${s}'`);
        return n;
      });
      const sharings = list(values, 'sharings');
      const out = string(values, 'out');
      await bench({
        config: positionals[0]!,
        weightings: list(values, 'weightings')!,
        ...(sharings ? { sharings } : {}),
        ...(seeds ? { seeds } : {}),
        ...(out !== undefined ? { out } : {}),
        ...(epochs !== undefined ? { epochs } : {}),
        ...(backend !== undefined ? { backend } : {}),
        ...common,
      });
      return;
    }
    case 'tune': {
      const method = choice(values, 'method', ['random', 'grid'] as const);
      const trials = integer(values, 'trials', 1);
      const seed = integer(values, 'seed', 0);
      const metric = string(values, 'metric');
      const out = string(values, 'out');
      if (metric !== undefined && !/^[^:]+:[^:]+$/.test(metric)) throw usageError(`--metric: expected task:metric (e.g. left:accuracy), got '${metric}'`);
      await tune({
        config: positionals[0]!,
        space: string(values, 'space')!,
        ...(method ? { method } : {}),
        ...(trials !== undefined ? { trials } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(metric !== undefined ? { metric } : {}),
        ...(out !== undefined ? { out } : {}),
        ...(epochs !== undefined ? { epochs } : {}),
        ...(backend !== undefined ? { backend } : {}),
        ...common,
      });
      return;
    }
    case 'report': {
      const out = string(values, 'out');
      const title = string(values, 'title');
      const result = await reportRuns({ inputs: positionals, ...(out !== undefined ? { out } : {}), ...(title !== undefined ? { title } : {}) });
      io.stdout.write(`report of ${result.runs.length} run(s): ${result.out}\n`);
      return;
    }
    case 'help': {
      const name = positionals[0];
      if (name === undefined) {
        io.stdout.write(mainHelp());
        return;
      }
      const target = commandDefinition(name);
      if (!target) throw usageError(`mtl help: unknown command '${name}'${suggestion(name, COMMANDS.map((c) => c.name))}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
      io.stdout.write(commandHelp(target));
      return;
    }
  }
}

/** Writes an error as `mtl: <message>` (each line prefixed), with the stack only under --debug. */
function reportError(error: unknown, io: CliIO, debug: boolean): void {
  if (isInterrupted(error)) {
    io.stderr.write('mtl: interrupted; the run log ends with status \'interrupted\'\n');
  } else {
    const message = isMtlError(error) || error instanceof Error ? error.message : String(error);
    io.stderr.write(`${message.split('\n').map((line) => `mtl: ${line}`).join('\n')}\n`);
  }
  if (debug) {
    let current: unknown = error;
    while (current instanceof Error) {
      io.stderr.write(`${current.stack ?? current.message}\n`);
      current = current.cause;
      if (current instanceof Error) io.stderr.write('caused by: ');
    }
  }
}

/**
 * Runs `mtl` with its arguments (without the node and script paths) and returns the exit code
 * (see EXIT_CODES); errors are written to `io.stderr`, never thrown.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const args = [...argv];
  const debug = args.includes('--debug');
  try {
    const first = args[0];
    if (first === undefined || first === '--help' || first === '-h') {
      io.stdout.write(mainHelp());
      return first === undefined ? EXIT_CODES.usage : EXIT_CODES.ok;
    }
    const command = commandDefinition(first);
    if (!command) {
      throw usageError(`unknown command '${first}'${suggestion(first, COMMANDS.map((c) => c.name))}; commands: ${COMMANDS.map((c) => c.name).join(', ')} (see mtl --help)`);
    }
    const { values, positionals } = parse(command, args.slice(1));
    if (values.help) {
      io.stdout.write(commandHelp(command));
      return EXIT_CODES.ok;
    }
    await runCommand(command, values, positionals, io);
    return EXIT_CODES.ok;
  } catch (error) {
    reportError(error, io, debug);
    return exitCodeFor(error);
  }
}
