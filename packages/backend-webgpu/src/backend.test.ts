import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, BACKEND_PRIORITY, createRegistry, isMtlError, useBackend, type Backend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { disposeBatch, makeBatch, makeTrainer } from '../test/fixtures/training-step';
import { hasSwiftShader, swiftShaderSkip } from '../test/system';

const log = () => {};
const scope = globalThis as { navigator?: { gpu?: unknown }; GPUBufferUsage?: unknown };

/** Stands in for @mtljs/backend-wasm: declared priority 30, always available, runs the cpu kernels. */
function fakeWasm(): Backend {
  return {
    kind: 'backend',
    name: 'wasm',
    apiVersion: API_VERSION,
    priority: BACKEND_PRIORITY.wasm,
    isAvailable: async () => ({ available: true, reason: 'fake wasm for the ranking test' }),
    activate: () => cpuBackend().activate(),
  };
}

afterAll(async () => {
  const { releaseWebGpu } = await import('./index');
  await releaseWebGpu();
});

describe('webgpuBackend', () => {
  // First in the file: nothing has loaded tfjs's WebGPU backend or Dawn yet.
  it('has no side effects on import; isAvailable() leaves tfjs and navigator alone', async () => {
    const before = tf.engine().backendNames().sort();
    expect(before).not.toContain('webgpu');
    const { webgpuBackend } = await import('./index');
    await webgpuBackend().isAvailable();
    expect(tf.engine().backendNames().sort()).toEqual(before);
    expect(scope.navigator?.gpu).toBeUndefined();
    expect(scope.GPUBufferUsage).toBeUndefined();
  });

  it('rejects bad options with BAD_CONFIG', async () => {
    const { webgpuBackend } = await import('./index');
    for (const options of [{ swiftshader: true }, { swiftshader: 'yes' }, { dawnFlags: 'backend=vulkan' }, { dawnFlags: [1] }]) {
      let error: unknown;
      try {
        webgpuBackend(options as never);
      } catch (caught) {
        error = caught;
      }
      expect(isMtlError(error, 'BAD_CONFIG'), JSON.stringify(options)).toBe(true);
    }
  });

  it('is a valid registry plugin, declaring the hardware priority', async () => {
    const { webgpuBackend } = await import('./index');
    const registry = createRegistry();
    expect(registry.register(webgpuBackend())).toMatchObject({ kind: 'backend', name: 'webgpu', apiVersion: 1, priority: 40 });
    expect(registry.list('backend')).toEqual(['webgpu']);
  });

  it.skipIf(!hasSwiftShader)(`reports SwiftShader as a software adapter, with its description${swiftShaderSkip}`, async () => {
    const { webgpuBackend } = await import('./index');
    const status = await webgpuBackend().isAvailable();
    console.info(`isAvailable() in Node: ${JSON.stringify(status, null, 2)}`);
    expect(status.available).toBe(true);
    expect(status.priority).toBe(BACKEND_PRIORITY.webgpuSoftware);
    expect(status.adapter).toMatchObject({ kind: 'software', vendor: 'google', architecture: 'swiftshader' });
    expect(status.adapter?.description).toMatch(/^SwiftShader driver/);
    expect(status.reason).toContain(`description '${status.adapter?.description}'`);
    expect(status.reason).toContain('a software adapter ranks below wasm');
    // Set by the plugin, or by the user beforehand (e.g. on a machine with a GPU, to test on SwiftShader).
    expect(status.reason).toMatch(/Vulkan driver: SwiftShader|Vulkan driver from the environment: .*vk_swiftshader_icd.json/);
  });

  it.skipIf(!hasSwiftShader)(`activates (concurrently too), computes, and switches with cpu${swiftShaderSkip}`, async () => {
    const { webgpuBackend } = await import('./index');
    const webgpu = webgpuBackend();
    await Promise.all([webgpu.activate(), webgpu.activate()]);
    expect(tf.getBackend()).toBe('webgpu');
    expect(scope.navigator?.gpu).toBeDefined();
    const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await product.data())).toEqual([11]);
    product.dispose();
    await cpuBackend().activate();
    expect(tf.getBackend()).toBe('cpu');
    await webgpu.activate();
    expect(tf.getBackend()).toBe('webgpu');
  });

  it.skipIf(!hasSwiftShader)(`sums more tensors than a shader has storage buffers (tfjs's AddN, chunked)${swiftShaderSkip}`, async () => {
    const { webgpuBackend } = await import('./index');
    await webgpuBackend().activate();
    // Larger than tfjs's CPU hand-off size, so the sum runs on the GPU; 30 inputs > 12 buffers.
    const inputs = Array.from({ length: 30 }, (_, i) => tf.fill([300], i + 1));
    const sum = tf.addN(inputs);
    const values = await sum.data();
    expect(values[0]).toBe(465);
    expect(values[299]).toBe(465);
    tf.dispose([sum, ...inputs]);
  });

  it.skipIf(!hasSwiftShader)(`says why Trainer.step cannot run on WebGPU in Node${swiftShaderSkip}`, async () => {
    const { webgpuBackend } = await import('./index');
    await webgpuBackend().activate();
    const { model, trainer } = makeTrainer('equal');
    const batch = makeBatch();
    let error: unknown;
    try {
      trainer.step(batch);
    } catch (caught) {
      error = caught;
    }
    disposeBatch(batch);
    trainer.optimizer.dispose();
    model.dispose();
    expect(isMtlError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain('OffscreenCanvas');
    expect((error as Error).message).toContain('await tensor.data()');
  });

  it.skipIf(!hasSwiftShader)(`ranks a software adapter below wasm and above cpu in useBackend('auto')${swiftShaderSkip}`, async () => {
    const { webgpuBackend } = await import('./index');
    const lines: string[] = [];
    const withWasm = await useBackend('auto', { backends: [cpuBackend(), webgpuBackend(), fakeWasm()], log: (line) => lines.push(line) });
    expect(withWasm.name).toBe('wasm');
    expect(withWasm.candidates.map((c) => [c.name, c.priority])).toEqual([
      ['wasm', 30],
      ['webgpu', 20],
      ['cpu', 10],
    ]);
    expect(withWasm.candidates[1]).toMatchObject({ declaredPriority: 40, outcome: 'not-tried' });
    expect(lines[0]).toContain("'webgpu' (priority 20, declared 40)");

    const withoutWasm = await useBackend('auto', { backends: [cpuBackend(), webgpuBackend()], log: (line) => lines.push(line) });
    expect(withoutWasm.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(lines[1]).toContain('software WebGPU adapter');
  });

  it.skipIf(!hasSwiftShader)(`release() removes navigator.gpu, the globals and the tfjs backend; activate() starts again${swiftShaderSkip}`, async () => {
    const { webgpuBackend } = await import('./index');
    const webgpu = webgpuBackend();
    await webgpu.activate();
    const kept = tf.tensor1d([1, 2, 3]);
    await webgpu.release();
    expect(scope.navigator).toBeUndefined();
    expect(scope.GPUBufferUsage).toBeUndefined();
    expect(tf.engine().registryFactory['webgpu']).toBeUndefined();
    await webgpu.release(); // twice is harmless
    await webgpu.activate();
    expect(tf.getBackend()).toBe('webgpu');
    const sum = tf.sum(tf.tensor1d([1, 2, 3]));
    expect(Array.from(await sum.data())).toEqual([6]);
    sum.dispose();
    kept.dispose();
  });
});
