import * as tf from '@tensorflow/tfjs-core';
import { isMtlError, useBackend, type MtlError } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { describe, expect, it } from 'vitest';
import { nodeBackend } from './index';

// These run where @tensorflow/tfjs-node's native binding does NOT load, as on the offline
// development machine (its install script downloads libtensorflow). binding.test.ts holds the
// ones that need it.
const status = await nodeBackend().isAvailable();
const skip = status.available ? ' (skipped: the @tensorflow/tfjs-node binding loads here; binding.test.ts covers this machine)' : '';
// tfjs-node registers its kernels before it looks for its binding: installed without the binding.
const kernelsRegistered = tf.getKernelsForBackend('tensorflow').length > 0;

async function thrown(run: () => Promise<unknown>): Promise<MtlError> {
  try {
    await run();
  } catch (error) {
    if (isMtlError(error)) return error;
    throw error;
  }
  throw new Error('expected an MtlError');
}

describe.skipIf(status.available)(`nodeBackend() without the binding${skip}`, () => {
  it('is unavailable, naming the binding and how to install it', () => {
    expect(status.available).toBe(false);
    expect(status.reason).toMatch(/^cannot load @tensorflow\/tfjs-node: /);
    // Installed without its native part (this machine), or not installed at all.
    expect(status.reason).toMatch(/`npm rebuild @tensorflow\/tfjs-node` with network access$|install it with `npm i @tensorflow\/tfjs-node` \(its install script downloads libtensorflow/);
  });

  it("lets useBackend('auto') move on to wasm, and the log says why node was passed over", async () => {
    const lines: string[] = [];
    const choice = await useBackend('auto', { backends: [nodeBackend(), wasmBackend(), cpuBackend()], log: (line) => lines.push(line) });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mtljs: using backend 'wasm': highest-priority available backend \(priority 30; WebAssembly available/);
    expect(lines[0]).toContain(`; passed over: 'node' (priority 50) unavailable: ${status.reason}`);
    expect(choice.candidates.map((c) => `${c.name}:${c.outcome}`)).toEqual(['wasm:chosen', 'cpu:not-tried', 'node:unavailable']);
  });

  it("makes useBackend('node') throw BACKEND_UNAVAILABLE with the reason and the alternatives", async () => {
    const error = await thrown(() => useBackend('node', { backends: [nodeBackend(), wasmBackend(), cpuBackend()], log: () => {} }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toBe(
      `backend 'node' is not available here: ${status.reason}; available instead: 'wasm' (priority 30), 'cpu' (priority 10) (or useBackend('auto'))`,
    );
    expect(error.details).toMatchObject({ plugin: 'node', available: ['wasm', 'cpu'] });
  });

  it('refuses activate() with BACKEND_UNAVAILABLE and leaves the current backend alone', async () => {
    await useBackend('cpu', { backends: [cpuBackend()], log: () => {} });
    const error = await thrown(() => nodeBackend().activate());
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toBe(`backend 'node': ${status.reason}`);
    expect(tf.getBackend()).toBe('cpu');
  });

  const noKernels = kernelsRegistered ? '' : ' (skipped: @tensorflow/tfjs-node is not installed here, so it registered no kernels)';
  it.skipIf(!kernelsRegistered)(`does not load tfjs-node-gpu after tfjs-node registered its kernels in this process${noKernels}`, async () => {
    const gpu = await nodeBackend({ gpu: true }).isAvailable();
    expect(gpu).toEqual({
      available: false,
      reason:
        "not loaded: this process already tried @tensorflow/tfjs-node, which registered its kernels; the two register the same 'tensorflow' tfjs backend, so use one of them per process (register only one nodeBackend())",
    });
  });
});
