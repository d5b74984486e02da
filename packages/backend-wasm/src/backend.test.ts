import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { describe, expect, it } from 'vitest';

describe('wasmBackend', () => {
  // First in the file: nothing else has loaded the tfjs wasm backend yet.
  it('has no side effects on import', async () => {
    const before = tf.engine().backendNames().sort();
    expect(before).not.toContain('wasm');
    const { wasmBackend } = await import('./index');
    await wasmBackend().isAvailable();
    expect(tf.engine().backendNames().sort()).toEqual(before);
  });

  it('reports WebAssembly, SIMD and threads', async () => {
    const { wasmBackend } = await import('./index');
    const status = await wasmBackend().isAvailable();
    expect(status.available).toBe(true);
    expect(status.reason).toMatch(/^WebAssembly available \(SIMD: (yes|no), threads: no in Node\)$/);
  });

  it("is picked by useBackend('auto') over cpu, and says why", async () => {
    const { wasmBackend } = await import('./index');
    const lines: string[] = [];
    const choice = await useBackend('auto', { backends: [cpuBackend(), wasmBackend()], log: (line) => lines.push(line) });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("'wasm'");
    expect(lines[0]).toContain('priority 30');
    expect(lines[0]).toContain('WebAssembly available');
  });

  it('activates twice, and switches back and forth with cpu', async () => {
    const { wasmBackend } = await import('./index');
    const wasm = wasmBackend();
    await wasm.activate();
    await wasm.activate();
    expect(tf.getBackend()).toBe('wasm');
    await cpuBackend().activate();
    expect(tf.getBackend()).toBe('cpu');
    await wasm.activate();
    expect(tf.getBackend()).toBe('wasm');
    const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await product.data())).toEqual([11]);
    product.dispose();
  });

  it('is a valid plugin for the registry', async () => {
    const { wasmBackend } = await import('./index');
    const registry = createRegistry();
    const plugin = registry.register(wasmBackend());
    expect(plugin).toMatchObject({ kind: 'backend', name: 'wasm', apiVersion: 1, priority: 30 });
    registry.register(cpuBackend());
    expect(registry.list('backend')).toEqual(['cpu', 'wasm']);
    const lines: string[] = [];
    expect((await useBackend('auto', { registry, log: (line) => lines.push(line) })).name).toBe('wasm');
  });
});
