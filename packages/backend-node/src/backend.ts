import { API_VERSION, BACKEND_PRIORITY, MtlError, setTfjsBackend, type Backend } from '@mtljs/core';
import { loadBinding, TFJS_BACKEND, type BindingPackage, type LoadOutcome } from './binding';

/** Options of `nodeBackend`. */
export interface NodeBackendOptions {
  /**
   * Load `@tensorflow/tfjs-node-gpu` (TensorFlow with CUDA) instead of `@tensorflow/tfjs-node`.
   * Default false.
   */
  gpu?: boolean;
  /**
   * Loads the binding package. Default: a dynamic import of its name, written so that bundlers
   * and TypeScript do not follow it (the package is an optional peer). Pass
   * `() => import('@tensorflow/tfjs-node')` where a bundler must see the import to include it.
   */
  load?: () => Promise<unknown>;
}

// One load per package and process with the default loader: a failed CommonJS load is not cached
// by Node, and running tfjs-node's top level twice registers its kernels twice.
const defaultLoads = new Map<BindingPackage, Promise<LoadOutcome>>();

/**
 * TensorFlow's C library through `@tensorflow/tfjs-node` (or `-gpu`), when its native binding
 * loads: the fastest backend in Node, so it ranks first in `useBackend('auto')`
 * (`BACKEND_PRIORITY.native`). The plugin is named 'node'; the tfjs backend it makes current is
 * 'tensorflow', the name tfjs-node registers.
 *
 * @example
 * ```ts
 * import { register, useBackend } from '@mtljs/core';
 * import { nodeBackend } from '@mtljs/backend-node';
 *
 * register(nodeBackend());
 * const choice = await useBackend('auto'); // the highest-priority backend that starts
 * ```
 */
export function nodeBackend(options: NodeBackendOptions = {}): Backend {
  const name: BindingPackage = options.gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  let ownLoad: Promise<LoadOutcome> | undefined;
  const load = (): Promise<LoadOutcome> => {
    if (options.load) return (ownLoad ??= loadBinding(name, options.load));
    let pending = defaultLoads.get(name);
    if (!pending) defaultLoads.set(name, (pending = loadBinding(name, undefined)));
    return pending;
  };
  return {
    kind: 'backend',
    name: 'node',
    apiVersion: API_VERSION,
    priority: BACKEND_PRIORITY.native,
    async isAvailable() {
      const outcome = await load();
      return outcome.loaded ? { available: true, reason: outcome.detail } : { available: false, reason: outcome.reason };
    },
    async activate() {
      const outcome = await load();
      if (!outcome.loaded) throw new MtlError('BACKEND_UNAVAILABLE', `backend 'node': ${outcome.reason}`, { plugin: 'node', package: name });
      await setTfjsBackend(TFJS_BACKEND, `the '${TFJS_BACKEND}' backend comes from ${name}`);
    },
  };
}
