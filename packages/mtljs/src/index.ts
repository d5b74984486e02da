import { defaultRegistry, equalWeighting, staticWeighting, type Plugin, type Registry } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { hardSharing } from '@mtljs/sharing-hard';
import { dwa } from '@mtljs/weighting-dwa';
import { gradnorm } from '@mtljs/weighting-gradnorm';
import { pcgrad } from '@mtljs/weighting-pcgrad';
import { rlw } from '@mtljs/weighting-rlw';
import { uncertainty } from '@mtljs/weighting-uncertainty';

export * from '@mtljs/core';
export { cpuBackend } from '@mtljs/backend-cpu';
export { wasmBackend } from '@mtljs/backend-wasm';
export { syntheticTasks } from '@mtljs/datasets';
export { hardSharing } from '@mtljs/sharing-hard';
export { dwa } from '@mtljs/weighting-dwa';
export { gradnorm } from '@mtljs/weighting-gradnorm';
export { pcgrad } from '@mtljs/weighting-pcgrad';
export { rlw } from '@mtljs/weighting-rlw';
export { uncertainty } from '@mtljs/weighting-uncertainty';

/** The standard plugins, each with its default options, in the order they are registered. */
export function standardPlugins(): Plugin[] {
  return [
    hardSharing(),
    equalWeighting(),
    staticWeighting({ weights: {} }),
    uncertainty(),
    gradnorm(),
    pcgrad(),
    dwa(),
    rlw(),
    cpuBackend(),
    wasmBackend(),
  ];
}

/**
 * Registers the standard plugins that are not registered yet (a plugin of the same kind and name
 * already there, the user's own say, is kept). Returns the names registered, as `kind:name`.
 */
export function registerStandardPlugins(registry: Registry = defaultRegistry()): string[] {
  const added: string[] = [];
  for (const plugin of standardPlugins()) {
    if (registry.has(plugin.kind, plugin.name)) continue;
    registry.register(plugin);
    added.push(`${plugin.kind}:${plugin.name}`);
  }
  return added;
}

// Importing the umbrella registers the standard set in the default registry, so configurations
// can name any of them ('hard', 'pcgrad', 'wasm', …).
registerStandardPlugins();
