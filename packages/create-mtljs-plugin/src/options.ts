/** The plugin kinds a package can be scaffolded for, as core's `Plugin.kind` spells them. */
export const PLUGIN_KINDS = ['weighting', 'sharing', 'data', 'backend'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** tfjs version the generated package pins for its own development (tests and types). */
export const TFJS_VERSION = '4.22.0';

export interface ScaffoldOptions {
  /** Folder to create the package in (must not exist, or be empty). */
  directory: string;
  kind: PluginKind;
  /** The registered plugin name, kebab-case; the package is `mtljs-<kind>-<name>`. */
  name: string;
  /** Version of the @mtljs/* packages to depend on (default: the version this tool was built with). */
  mtljsVersion: string;
  /** Folder of `pnpm pack` tarballs; when given, @mtljs/* dev dependencies point at them (`file:`). */
  fromTarballs?: string;
}

/**
 * A usage error: a bad flag, kind or name. `code` follows @mtljs/core's MtlError codes so that
 * scripts can match on it; the command line exits with 2, as `mtl` does for BAD_CONFIG.
 */
export class ScaffoldError extends Error {
  readonly code = 'BAD_CONFIG';
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ScaffoldError';
  }
}

export const USAGE = `Usage: create-mtljs-plugin <dir> [--kind weighting|sharing|data|backend] [--name <name>]
                           [--mtljs-version <version>] [--from-tarballs <dir>]

Scaffolds a package mtljs-<kind>-<name> in <dir>: a minimal working plugin, its build (tsup, ESM +
CJS + types), tests wired to @mtljs/testkit's conformance checks, and a README to fill in.

  --kind            weighting (default), sharing, data or backend
  --name            the plugin's registered name, kebab-case (default: the folder's name, less a
                    leading "mtljs-<kind>-")
  --mtljs-version   version range base of @mtljs/core and @mtljs/testkit (default: %VERSION%)
  --from-tarballs   folder holding mtljs-core-*.tgz, mtljs-testkit-*.tgz (and, for a weighting,
                    mtljs-sharing-hard-*.tgz): depend on those files instead of the registry
  -h, --help        this text

With npm:  npm create mtljs-plugin my-plugin -- --kind sharing --name ring
With pnpm: pnpm create mtljs-plugin my-plugin --kind sharing --name ring`;

// npm's own rules allow more, but the name is also a registry key and part of a function name,
// so it is kept to lower-case words joined by single hyphens.
const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const MAX_NAME_LENGTH = 60;

/** Why `name` cannot be a plugin name, or null when it can. */
export function nameProblem(name: string): string | null {
  if (!name) return 'the name is empty';
  if (name.length > MAX_NAME_LENGTH) return `the name has ${name.length} characters; at most ${MAX_NAME_LENGTH}`;
  if (!NAME_PATTERN.test(name)) {
    return `'${name}' is not kebab-case: lower-case letters and digits, words joined by single hyphens, starting with a letter (e.g. 'sign-agreement')`;
  }
  return null;
}

export function isPluginKind(value: string): value is PluginKind {
  return (PLUGIN_KINDS as readonly string[]).includes(value);
}

/** What the command line asked for: options to scaffold, or the help text. */
export type ParsedArguments = { help: true } | ({ help: false } & ScaffoldOptions);

const VALUE_FLAGS = new Set(['--kind', '--name', '--mtljs-version', '--from-tarballs']);

/**
 * Reads `argv` (without node and the script). Defaults need no prompt: kind `weighting`, name from
 * the folder's last segment. Throws a ScaffoldError for anything it cannot use.
 */
export function parseArguments(argv: readonly string[], defaultMtljsVersion: string): ParsedArguments {
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!;
    if (argument === '-h' || argument === '--help') return { help: true };
    if (argument === '--') continue;
    if (argument.startsWith('-')) {
      const [flag, inline] = argument.includes('=') ? [argument.slice(0, argument.indexOf('=')), argument.slice(argument.indexOf('=') + 1)] : [argument, undefined];
      if (!VALUE_FLAGS.has(flag)) throw new ScaffoldError(`unknown option '${flag}'; options: ${[...VALUE_FLAGS].join(', ')}, --help`);
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new ScaffoldError(`option '${flag}' needs a value`);
      if (values.has(flag)) throw new ScaffoldError(`option '${flag}' is given twice`);
      values.set(flag, value);
      continue;
    }
    positional.push(argument);
  }
  if (positional.length === 0) throw new ScaffoldError('missing the target folder: create-mtljs-plugin <dir> [--kind …] [--name …] (see --help)');
  if (positional.length > 1) throw new ScaffoldError(`one target folder expected, got ${positional.length}: ${positional.join(', ')}`);
  const directory = positional[0]!;

  const kind = values.get('--kind') ?? 'weighting';
  if (!isPluginKind(kind)) throw new ScaffoldError(`unknown kind '${kind}'; kinds: ${PLUGIN_KINDS.join(', ')}`);

  const folderName = directory.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
  const name = values.get('--name') ?? folderName.replace(new RegExp(`^mtljs-${kind}-`), '');
  const problem = nameProblem(name);
  if (problem) {
    const source = values.has('--name') ? '--name' : `the folder name '${folderName}' (pass --name)`;
    throw new ScaffoldError(`bad plugin name from ${source}: ${problem}`);
  }

  const mtljsVersion = values.get('--mtljs-version') ?? defaultMtljsVersion;
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(mtljsVersion)) {
    throw new ScaffoldError(`--mtljs-version must be an exact version such as 0.3.1, got '${mtljsVersion}'`);
  }
  const fromTarballs = values.get('--from-tarballs');
  return { help: false, directory, kind, name, mtljsVersion, ...(fromTarballs === undefined ? {} : { fromTarballs }) };
}
