import { API_VERSION, setTfjsBackend, type Backend } from '@mtljs/core';

/**
 * The tfjs cpu backend: plain JavaScript kernels, available everywhere, the slowest choice, so it
 * ranks last in `useBackend('auto')` (priority 10).
 *
 * @example
 * ```ts
 * import { register, useBackend } from '@mtljs/core';
 * import { cpuBackend } from '@mtljs/backend-cpu';
 *
 * register(cpuBackend());
 * const choice = await useBackend('auto'); // the highest-priority backend that starts
 * ```
 */
export function cpuBackend(): Backend {
  return {
    kind: 'backend',
    name: 'cpu',
    apiVersion: API_VERSION,
    priority: 10,
    async isAvailable() {
      return { available: true, reason: 'pure JavaScript, runs everywhere' };
    },
    async activate() {
      // Imported here, not at the top, so that importing this package registers nothing.
      await import('@tensorflow/tfjs-backend-cpu');
      await setTfjsBackend('cpu');
    },
  };
}
