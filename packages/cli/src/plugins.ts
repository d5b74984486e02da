import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MtlError, isMtlError, type Plugin, type PluginKinds, type Registry } from '@mtljs/core';
import { referenceName, suggestion, type CliConfig, type LoadedConfig } from './config';

// Third-party plugin packages named in a config's `plugins`. The rule for what a package gives:
//   1. an export named `plugins`: an array of plugin objects or factories;
//   2. else a default export: a plugin object, a factory, or an array of either;
//   3. else every named export that is a function taking no arguments and returning a plugin.
// A factory is called with no arguments. A plugin object is anything with string `kind` and
// `name` and a numeric `apiVersion`.

function isPlugin(value: unknown): value is Plugin {
  if (typeof value !== 'object' || value === null) return false;
  const plugin = value as Record<string, unknown>;
  return typeof plugin.kind === 'string' && typeof plugin.name === 'string' && typeof plugin.apiVersion === 'number';
}

function fromFactory(value: unknown): Plugin | undefined {
  if (isPlugin(value)) return value;
  if (typeof value !== 'function' || value.length > 0) return undefined;
  try {
    const made: unknown = (value as () => unknown)();
    return isPlugin(made) ? made : undefined;
  } catch {
    // A function that needs arguments to make a plugin is not a default factory; rule 3 skips it.
    return undefined;
  }
}

/** The plugins a package module gives, by the rule above. */
export function pluginsOfModule(module: Record<string, unknown>): Plugin[] {
  const list = (value: unknown): Plugin[] =>
    (Array.isArray(value) ? value : [value]).map(fromFactory).filter((p): p is Plugin => p !== undefined);
  if (module.plugins !== undefined) return list(module.plugins);
  if (module.default !== undefined) {
    const fromDefault = list(module.default);
    // A CommonJS package imported from ESM shows its exports as `default`.
    if (fromDefault.length > 0) return fromDefault;
    if (typeof module.default === 'object' && module.default !== null && !Array.isArray(module.default)) {
      return pluginsOfModule({ ...(module.default as Record<string, unknown>), default: undefined });
    }
  }
  return Object.entries(module)
    .filter(([key]) => key !== 'default')
    .map(([, value]) => (typeof value === 'function' ? fromFactory(value) : undefined))
    .filter((p): p is Plugin => p !== undefined);
}

/** Where a specifier resolves: from the config's folder, then the working directory. */
export function resolvePluginPackage(specifier: string, dirs: readonly string[]): string | undefined {
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    const path = resolve(dirs[0]!, specifier);
    try {
      return createRequire(join(dirs[0]!, 'mtl-config.json')).resolve(path);
    } catch {
      return undefined;
    }
  }
  for (const dir of dirs) {
    try {
      return createRequire(join(dir, 'mtl-config.json')).resolve(specifier);
    } catch {
      // Not resolvable from this folder; try the next.
    }
  }
  return undefined;
}

const loaded = new Map<string, Plugin[]>();

/**
 * Imports each package of `config.plugins` and registers its plugins (once per process: a second
 * load of the same file reuses the first). A package that cannot be found, fails to load or gives
 * no plugin is a BAD_CONFIG error naming it and its field.
 */
export async function loadPluginPackages(loadedConfig: LoadedConfig, registry: Registry): Promise<Plugin[]> {
  const { config, label, dir } = loadedConfig;
  const all: Plugin[] = [];
  for (const [i, specifier] of config.plugins.entries()) {
    const field = `${label}: plugins[${i}]`;
    const path = resolvePluginPackage(specifier, [dir, process.cwd()]);
    if (path === undefined) {
      throw new MtlError('BAD_CONFIG', `${field}: cannot find plugin package '${specifier}' (looked from ${dir} and ${process.cwd()}; is it installed?)`, {
        plugin: specifier,
        field: `plugins[${i}]`,
      });
    }
    let plugins = loaded.get(path);
    if (!plugins) {
      let module: Record<string, unknown>;
      try {
        module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      } catch (error) {
        throw new MtlError('BAD_CONFIG', `${field}: plugin package '${specifier}' failed to load: ${(error as Error).message}`, { plugin: specifier, file: path }, { cause: error });
      }
      plugins = pluginsOfModule(module);
      if (plugins.length === 0) {
        throw new MtlError(
          'BAD_CONFIG',
          `${field}: package '${specifier}' exports no mtljs plugin (expected a 'plugins' array, a default plugin or factory, or plugin factories)`,
          { plugin: specifier, file: path },
        );
      }
      for (const plugin of plugins) {
        if (registry.has(plugin.kind, plugin.name)) {
          throw new MtlError('BAD_CONFIG', `${field}: package '${specifier}' gives a ${plugin.kind} plugin '${plugin.name}', but one of that name is already registered`, {
            plugin: plugin.name,
          });
        }
        try {
          registry.register(plugin);
        } catch (error) {
          if (isMtlError(error)) throw new MtlError('BAD_CONFIG', `${field}: package '${specifier}': ${error.message}`, error.details, { cause: error });
          throw error;
        }
      }
      loaded.set(path, plugins);
    }
    all.push(...plugins);
  }
  return all;
}

const KIND_WORDS: Record<string, string> = {
  sharing: 'sharing strategy',
  weighting: 'weighting',
  backend: 'backend',
  dataset: 'dataset',
  data: 'data adapter',
};

/** Throws UNKNOWN_PLUGIN `<label>: <field>: unknown <kind> '<name>'; available: …` when it is not registered. */
export function checkRegistered(registry: Registry, kind: string, pluginName: string, label: string, field: string): void {
  if (registry.has(kind, pluginName)) return;
  const available = registry.list(kind);
  throw new MtlError(
    'UNKNOWN_PLUGIN',
    `${label}: ${field}: unknown ${KIND_WORDS[kind] ?? kind} '${pluginName}'${suggestion(pluginName, available)}; available: ${available.join(', ') || '(none)'}`,
    { plugin: pluginName, field, available },
  );
}

/**
 * Checks every plugin a config names against the registry (after its plugin packages are
 * loaded), and that plugin options are accepted, with the field in each message.
 */
export function checkConfigPlugins(loadedConfig: LoadedConfig, registry: Registry): void {
  const { config, label } = loadedConfig;
  checkRegistered(registry, 'sharing', referenceName(config.model.sharing), label, 'model.sharing');
  checkRegistered(registry, 'weighting', referenceName(config.weighting), label, 'weighting');
  if (config.backend !== 'auto') checkRegistered(registry, 'backend', config.backend, label, 'backend');
  if (config.data.dataset !== undefined) checkRegistered(registry, 'dataset', config.data.dataset, label, 'data.dataset');
  if (config.data.adapter !== undefined) checkRegistered(registry, 'data', config.data.adapter, label, 'data.adapter');
  resolveConfigured(registry, 'sharing', config.model.sharing, label, 'model.sharing');
  resolveConfigured(registry, 'weighting', config.weighting, label, 'weighting');
}

/** A registered plugin configured with the reference's options; option errors name the field. */
export function resolveConfigured<K extends 'sharing' | 'weighting'>(
  registry: Registry,
  kind: K,
  reference: CliConfig['weighting'],
  label: string,
  field: string,
): PluginKinds[K] {
  try {
    return registry.resolve(kind, reference) as PluginKinds[K];
  } catch (error) {
    if (isMtlError(error) && error.code === 'BAD_CONFIG') {
      throw new MtlError('BAD_CONFIG', `${label}: ${field}.options: ${error.message}`, { ...error.details, field: `${field}.options` }, { cause: error });
    }
    throw error;
  }
}
