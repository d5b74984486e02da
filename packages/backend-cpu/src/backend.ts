import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, type Backend } from '@mtljs/core';

/**
 * The tfjs cpu backend: plain JavaScript kernels, available everywhere, the slowest choice, so it
 * ranks last in `useBackend('auto')` (priority 10).
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
      let started: boolean;
      try {
        started = await tf.setBackend('cpu');
      } catch (error) {
        throw new MtlError('BACKEND_UNAVAILABLE', `backend 'cpu' failed to start: ${(error as Error).message}`, { plugin: 'cpu' }, { cause: error });
      }
      if (!started) {
        throw new MtlError('BACKEND_UNAVAILABLE', "backend 'cpu' failed to start: tf.setBackend('cpu') returned false", { plugin: 'cpu' });
      }
    },
  };
}
