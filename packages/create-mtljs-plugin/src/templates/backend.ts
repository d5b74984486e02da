import type { TemplateContext } from './common';

export function backendSource({ name, factory }: TemplateContext): string {
  return `import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, setTfjsBackend, type Backend } from '@mtljs/core';

/**
 * TODO: replace this example with your own backend, and say in README.md what it needs, where it
 * ranks and why.
 *
 * Example: tfjs's cpu kernels registered again under the name '${name}'. It computes exactly
 * what 'cpu' computes, so it ranks just below it (priority 9) in useBackend('auto').
 */
export function ${factory}(): Backend {
  return {
    kind: 'backend',
    name: '${name}',
    apiVersion: API_VERSION,
    priority: 9,
    async isAvailable() {
      return { available: true, reason: "tfjs's pure JavaScript cpu kernels under the name '${name}'" };
    },
    async activate() {
      // Imported here, not at the top, so that importing this package registers nothing
      // (package.json says "sideEffects": false).
      const cpu = await import('@tensorflow/tfjs-backend-cpu');
      if (tf.findBackendFactory('${name}') === null) {
        tf.registerBackend('${name}', () => new cpu.MathBackendCPU(), 9);
        // Kernels are registered per backend name: the new name needs its own copies.
        tf.copyRegisteredKernels('cpu', '${name}');
      }
      await setTfjsBackend('${name}');
    },
  };
}
`;
}

export function backendTest({ name, factory }: TemplateContext): string {
  return `import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, createRegistry, setTfjsBackend, type Backend } from '@mtljs/core';
import { checkBackendConformance } from '@mtljs/testkit';
import { describe, expect, it } from 'vitest';
import { ${factory} } from './index';

/** The reference the conformance check compares with: plain tfjs cpu. */
function referenceCpu(): Backend {
  return {
    kind: 'backend',
    name: 'cpu',
    apiVersion: API_VERSION,
    priority: 10,
    isAvailable: async () => ({ available: true, reason: 'reference' }),
    async activate() {
      await import('@tensorflow/tfjs-backend-cpu');
      await setTfjsBackend('cpu');
    },
  };
}

describe("backend '${name}'", () => {
  // First in the file: nothing has loaded a tfjs backend yet.
  it('registers nothing with tfjs when imported', async () => {
    const plugin = ${factory}();
    await plugin.isAvailable();
    expect(tf.engine().backendNames()).not.toContain('${name}');
  });

  it('starts and computes', async () => {
    await ${factory}().activate();
    expect(tf.getBackend()).toBe('${name}');
    const sum = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4]));
    expect(Array.from(await sum.data())).toEqual([4, 6]);
    sum.dispose();
  });

  it('trains like the cpu reference (testkit backend conformance)', async () => {
    const report = await checkBackendConformance({ backends: [referenceCpu(), ${factory}()], required: ['${name}'] });
    expect(report.ran).toEqual(['cpu', '${name}']);
    expect(report.runs.length).toBeGreaterThan(0);
  });

  it('registers under its name', () => {
    const registry = createRegistry();
    registry.register(${factory}());
    expect(registry.list('backend')).toContain('${name}');
  });
});
`;
}
