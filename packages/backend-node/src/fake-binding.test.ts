import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { describe, expect, it } from 'vitest';

// The plugin's logic with the binding, on any machine: a stand-in for @tensorflow/tfjs-node that
// does what its import does (registers a 'tensorflow' backend with its kernels, then makes it
// current), backed by the cpu kernels and carrying the fields tfjs-node's backend has.
class FakeNodeBackend extends MathBackendCPU {
  readonly binding = { TF_Version: '2.9.1' };
  readonly isGPUPackage = false;
  readonly isUsingGpuDevice = false;
}

let loads = 0;
async function fakeTfjsNode(): Promise<void> {
  loads++;
  // Its top level runs once per process, as a module's does.
  if (tf.findBackendFactory('tensorflow')) return;
  await import('@tensorflow/tfjs-backend-cpu');
  for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: 'tensorflow' });
  tf.registerBackend('tensorflow', () => new FakeNodeBackend(), 3);
  void tf.setBackend('tensorflow');
}

function moduleNotFound(name: string): Error {
  return Object.assign(new Error(`Cannot find package '${name}' imported from /app/node_modules/@mtljs/backend-node/dist/index.js`), { code: 'ERR_MODULE_NOT_FOUND' });
}

describe('nodeBackend()', () => {
  // First in the file: nothing has loaded anything yet.
  it('has no side effects on import or construction', async () => {
    const before = tf.engine().backendNames().sort();
    const { nodeBackend } = await import('./index');
    const plugin = nodeBackend();
    expect(plugin).toMatchObject({ kind: 'backend', name: 'node', apiVersion: 1, priority: 50 });
    expect(tf.engine().backendNames().sort()).toEqual(before);
  });

  it('says how to install a package that is not there', async () => {
    const { nodeBackend } = await import('./index');
    const load = () => Promise.reject(moduleNotFound('@tensorflow/tfjs-node'));
    expect(await nodeBackend({ load }).isAvailable()).toEqual({
      available: false,
      reason:
        "cannot load @tensorflow/tfjs-node: Cannot find package '@tensorflow/tfjs-node' imported from /app/node_modules/@mtljs/backend-node/dist/index.js; " +
        'it is not installed; install it with `npm i @tensorflow/tfjs-node` (its install script downloads libtensorflow, so it needs network access at install time)',
    });
  });

  it('points tfjs-node-gpu users at CUDA when a shared library is missing', async () => {
    const { nodeBackend } = await import('./index');
    const load = () => Promise.reject(new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory'));
    const status = await nodeBackend({ gpu: true, load }).isAvailable();
    expect(status.reason).toBe(
      'cannot load @tensorflow/tfjs-node-gpu: libcudart.so.11.0: cannot open shared object file: No such file or directory; ' +
        'a shared library is missing: reinstall @tensorflow/tfjs-node-gpu, and put the CUDA toolkit and cuDNN versions its README lists on the library path (LD_LIBRARY_PATH)',
    );
  });

  it('reports what loaded, and the check leaves the current backend alone', async () => {
    const { nodeBackend } = await import('./index');
    await useBackend('cpu', { backends: [cpuBackend()], log: () => {} });
    const plugin = nodeBackend({ load: fakeTfjsNode });
    expect(await plugin.isAvailable()).toEqual({ available: true, reason: '@tensorflow/tfjs-node loaded (TensorFlow 2.9.1, on the CPU)' });
    expect(tf.findBackendFactory('tensorflow')).toBeDefined();
    expect(tf.getBackend()).toBe('cpu');
    // Checked again, activated: loaded once.
    await plugin.isAvailable();
    await plugin.activate();
    expect(loads).toBe(1);
    expect(tf.getBackend()).toBe('tensorflow');
  });

  it("ranks first in useBackend('auto'), above wasm and cpu", async () => {
    const { nodeBackend } = await import('./index');
    await useBackend('cpu', { backends: [cpuBackend()], log: () => {} });
    const lines: string[] = [];
    const choice = await useBackend('auto', { backends: [cpuBackend(), wasmBackend(), nodeBackend({ load: fakeTfjsNode })], log: (line) => lines.push(line) });
    expect(choice.name).toBe('node');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(lines).toEqual(["mtljs: using backend 'node': highest-priority available backend (priority 50; @tensorflow/tfjs-node loaded (TensorFlow 2.9.1, on the CPU))"]);
    const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await product.data())).toEqual([11]);
    product.dispose();
  });

  it('refuses tfjs-node-gpu once the tfjs-node backend runs in the process', async () => {
    const { nodeBackend } = await import('./index');
    let called = false;
    const status = await nodeBackend({ gpu: true, load: async () => void (called = true) }).isAvailable();
    expect(called).toBe(false);
    expect(status).toEqual({
      available: false,
      reason:
        "not loaded: this process already runs the 'tensorflow' backend of @tensorflow/tfjs-node; the two register the same 'tensorflow' tfjs backend, so use one of them per process (register only one nodeBackend())",
    });
  });
});
