import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';

function registeredBackends(): string[] {
  return tf.engine().backendNames().sort();
}

describe('cpuBackend', () => {
  // First in the file: nothing else has loaded the tfjs cpu backend yet.
  it('has no side effects on import', async () => {
    const before = registeredBackends();
    expect(before).not.toContain('cpu');
    const { cpuBackend } = await import('./index');
    const plugin = cpuBackend();
    expect(registeredBackends()).toEqual(before);
    await plugin.isAvailable();
    expect(registeredBackends()).toEqual(before);
  });

  it('activates the tfjs cpu backend', async () => {
    const { cpuBackend } = await import('./index');
    const plugin = cpuBackend();
    expect(await plugin.isAvailable()).toEqual({ available: true, reason: 'pure JavaScript, runs everywhere' });
    await plugin.activate();
    expect(tf.getBackend()).toBe('cpu');
    const sum = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4]));
    expect(Array.from(await sum.data())).toEqual([4, 6]);
    sum.dispose();
    // Activating again is harmless.
    await plugin.activate();
    expect(tf.getBackend()).toBe('cpu');
  });

  it('is a valid plugin for the registry', async () => {
    const { cpuBackend } = await import('./index');
    const registry = createRegistry();
    const plugin = registry.register(cpuBackend());
    expect(plugin).toMatchObject({ kind: 'backend', name: 'cpu', apiVersion: 1, priority: 10 });
    expect(registry.list('backend')).toEqual(['cpu']);
    expect(registry.get('backend', 'cpu')).toBe(plugin);
    let error: unknown;
    try {
      registry.register(cpuBackend());
    } catch (caught) {
      error = caught;
    }
    expect(isMtlError(error, 'DUPLICATE_PLUGIN')).toBe(true);
  });
});
