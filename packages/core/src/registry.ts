import { MtlError } from './errors';
import {
  SUPPORTED_API_VERSIONS,
  type Backend,
  type DataAdapter,
  type DatasetPlugin,
  type Plugin,
  type PluginReference,
  type SharingStrategy,
  type Weighting,
} from './contracts';

/** The plugin kinds the core knows; third parties may add others (e.g. 'dataset'). */
export interface PluginKinds {
  /** Sharing strategies (`'hard'`, `'mmoe'`, …). */
  sharing: SharingStrategy<any>;
  /** Task weightings (`'ew'`, `'pcgrad'`, …). */
  weighting: Weighting<any>;
  /** tfjs backends, chosen by `useBackend`. */
  backend: Backend;
  /** Data adapters (`'csv'`, `'jsonl'`, `'idx'`). */
  data: DataAdapter;
  /** Named datasets (`'synthetic'`, `'multi-mnist'`, …). */
  dataset: DatasetPlugin;
}

/**
 * What {@link Registry.get} and {@link Registry.resolve} return for a kind: the contract registered under
 * that key of {@link PluginKinds}, or a bare {@link Plugin} for a kind this package does not know.
 */
export type KindOf<K extends string> = K extends keyof PluginKinds ? PluginKinds[K] : Plugin;

/** Options of `Registry.register` and `register`. */
export interface RegisterOptions {
  /** Replace a plugin of the same kind and name instead of throwing. */
  replace?: boolean;
}

/**
 * Plugins by kind, then by name. Registering a name twice throws unless `replace` is set; an
 * unknown name throws an error that lists what is registered; a plugin whose `apiVersion` this
 * core does not accept is refused with the accepted versions.
 *
 * @example
 * ```ts
 * import { createRegistry } from '@mtljs/core';
 * import { pcgrad } from '@mtljs/weighting-pcgrad';
 *
 * const registry = createRegistry();
 * registry.register(pcgrad());
 * const weighting = registry.resolve('weighting', { name: 'pcgrad', options: { reduction: 'mean' } });
 * registry.register(pcgrad(), { replace: true }); // a second registration throws without `replace`
 * ```
 */
export class Registry {
  private readonly byKind = new Map<string, Map<string, Plugin>>();

  /**
   * Adds a plugin under its kind and name; returns it.
   *
   * @throws MtlError BAD_CONFIG when `kind` or `name` is not a non-empty string or `apiVersion` not a
   *   number; INCOMPATIBLE_PLUGIN when `apiVersion` is not in `SUPPORTED_API_VERSIONS`;
   *   DUPLICATE_PLUGIN when the name is taken and `options.replace` is not set.
   */
  register<P extends Plugin>(plugin: P, options: RegisterOptions = {}): P {
    checkPluginShape(plugin);
    if (!SUPPORTED_API_VERSIONS.includes(plugin.apiVersion)) {
      throw new MtlError(
        'INCOMPATIBLE_PLUGIN',
        `${plugin.kind} plugin '${plugin.name}' declares apiVersion ${plugin.apiVersion}; this @mtljs/core accepts ${SUPPORTED_API_VERSIONS.join(', ')}`,
        { plugin: plugin.name, expected: SUPPORTED_API_VERSIONS, received: plugin.apiVersion },
      );
    }
    let plugins = this.byKind.get(plugin.kind);
    if (!plugins) {
      plugins = new Map();
      this.byKind.set(plugin.kind, plugins);
    }
    if (plugins.has(plugin.name) && !options.replace) {
      throw new MtlError(
        'DUPLICATE_PLUGIN',
        `a ${plugin.kind} plugin named '${plugin.name}' is already registered; pass { replace: true } to replace it`,
        { plugin: plugin.name },
      );
    }
    plugins.set(plugin.name, plugin);
    return plugin;
  }

  /**
   * The plugin registered under `kind` and `name`, as registered (see `resolve` to configure it).
   *
   * @throws MtlError UNKNOWN_PLUGIN, listing the names registered for that kind, when there is none.
   */
  get<K extends string>(kind: K, name: string): KindOf<K> {
    const plugin = this.byKind.get(kind)?.get(name);
    if (!plugin) {
      const available = this.list(kind);
      throw new MtlError(
        'UNKNOWN_PLUGIN',
        `no ${kind} plugin named '${name}' is registered; available: ${available.length ? available.join(', ') : '(none)'}`,
        { plugin: name, available },
      );
    }
    return plugin as KindOf<K>;
  }

  /**
   * A registered plugin by name, configured with `options` through its `configure` (a plugin
   * without one accepts no options).
   *
   * @throws MtlError UNKNOWN_PLUGIN for an unregistered name; BAD_CONFIG when `options` is not an
   *   object, or is non-empty for a plugin without `configure` (and whatever `configure` throws).
   */
  resolve<K extends string>(kind: K, reference: string | PluginReference): KindOf<K> {
    const { name, options } = typeof reference === 'string' ? { name: reference, options: undefined } : reference;
    const plugin = this.get(kind, name);
    if (options === undefined) return plugin;
    if (typeof options !== 'object' || options === null) {
      throw new MtlError('BAD_CONFIG', `${kind} '${name}': options must be an object`, { plugin: name });
    }
    if (!plugin.configure) {
      const keys = Object.keys(options);
      if (keys.length === 0) return plugin;
      throw new MtlError('BAD_CONFIG', `${kind} '${name}' takes no options; got ${keys.map((k) => `'${k}'`).join(', ')}`, { plugin: name, option: keys[0] });
    }
    return plugin.configure(options) as KindOf<K>;
  }

  /** Whether a plugin of this kind and name is registered. */
  has(kind: string, name: string): boolean {
    return this.byKind.get(kind)?.has(name) ?? false;
  }

  /** Registered names of a kind, sorted. */
  list(kind: string): string[] {
    return [...(this.byKind.get(kind)?.keys() ?? [])].sort();
  }

  /** Registered plugins of a kind. */
  plugins<K extends string>(kind: K): KindOf<K>[] {
    return [...(this.byKind.get(kind)?.values() ?? [])] as KindOf<K>[];
  }

  /**
   * Removes a registered plugin.
   *
   * @throws MtlError UNKNOWN_PLUGIN when no plugin of this kind and name is registered.
   */
  unregister(kind: string, name: string): void {
    if (!this.byKind.get(kind)?.delete(name)) {
      throw new MtlError('UNKNOWN_PLUGIN', `cannot unregister ${kind} plugin '${name}': it is not registered`, {
        plugin: name,
        available: this.list(kind),
      });
    }
  }
}

function checkPluginShape(plugin: Plugin): void {
  const problems: string[] = [];
  if (typeof plugin !== 'object' || plugin === null) problems.push('a plugin must be an object');
  else {
    if (typeof plugin.kind !== 'string' || !plugin.kind) problems.push('`kind` must be a non-empty string');
    if (typeof plugin.name !== 'string' || !plugin.name) problems.push('`name` must be a non-empty string');
    if (typeof plugin.apiVersion !== 'number') problems.push('`apiVersion` must be a number');
  }
  if (problems.length) {
    throw new MtlError('BAD_CONFIG', `cannot register plugin: ${problems.join('; ')}`, {
      plugin: (plugin as Plugin | null)?.name,
    });
  }
}

/** An isolated registry, for tests and for applications that want their own plugin set. */
export function createRegistry(): Registry {
  return new Registry();
}

const GLOBAL_KEY = Symbol.for('mtljs.registry.v1');

/**
 * The process-wide registry. It lives on `globalThis` under a `Symbol.for` key, so two copies of
 * @mtljs/core (an app that bundled one, a plugin that installed another) share one set of plugins.
 *
 * @example
 * ```ts
 * import { defaultRegistry, register } from '@mtljs/core';
 * import { cpuBackend } from '@mtljs/backend-cpu';
 *
 * register(cpuBackend()); // shorthand for defaultRegistry().register(cpuBackend())
 * console.log(defaultRegistry().plugins('backend').map((backend) => backend.name));
 * ```
 */
export function defaultRegistry(): Registry {
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  let registry = holder[GLOBAL_KEY];
  if (!registry) {
    registry = new Registry();
    holder[GLOBAL_KEY] = registry;
  }
  return registry;
}

/** Registers a plugin in {@link defaultRegistry}, where trainers, configs and the CLI look names up; returns the plugin. */
export function register<P extends Plugin>(plugin: P, options?: RegisterOptions): P {
  return defaultRegistry().register(plugin, options);
}

/**
 * Refuses options a plugin does not know, naming each: call it first thing in a plugin factory.
 * `allowed` lists the option names the plugin accepts.
 */
export function checkOptions(plugin: string, options: object | undefined, allowed: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new MtlError('BAD_CONFIG', `${plugin}: options must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`, { plugin });
  }
  const unknown = Object.keys(options).filter((key) => !allowed.includes(key));
  if (unknown.length) {
    throw new MtlError(
      'BAD_CONFIG',
      `${plugin}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; it accepts: ${allowed.length ? allowed.join(', ') : '(none)'}`,
      { plugin, option: unknown[0], available: allowed },
    );
  }
}

/**
 * Refuses an option that names a task the model does not have (preferences, per-task weights):
 * call it in a weighting's `init`, when the model's tasks are known.
 */
export function checkOptionTaskNames(plugin: string, option: string, names: Iterable<string>, taskNames: readonly string[]): void {
  for (const task of names) {
    if (!taskNames.includes(task)) {
      throw new MtlError(
        'BAD_CONFIG',
        `weighting '${plugin}': option '${option}' names task '${task}', which the model does not have; its tasks: ${taskNames.join(', ')}`,
        { plugin, option, task, available: taskNames },
      );
    }
  }
}
