import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkBackendConformance } from '@mtljs/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { hasSwiftShader, swiftShaderSkip } from '../test/system';
import { webgpuBackend } from './index';

// The testkit's cross-backend suite on cpu (reference), wasm and WebGPU in Node (Dawn on
// SwiftShader): the same seeded Trainer steps (stepAsync: WebGPU cannot read synchronously in
// Node) for a loss-level, a Gramian and a Jacobian weighting, compared within 1e-4. Under CI the
// WebGPU run is required: a missing adapter fails instead of skipping.
describe('cross-backend conformance: cpu, wasm, WebGPU in Node', () => {
  afterAll(async () => {
    await webgpuBackend().release();
  });

  it.skipIf(!hasSwiftShader)(`matches cpu within 1e-4 on wasm and webgpu; auto picks wasm over the software adapter${swiftShaderSkip}`, async () => {
    const webgpu = webgpuBackend();
    const status = await webgpu.isAvailable();
    console.info(`webgpu adapter: ${status.reason}`);
    expect(status.available).toBe(true);
    expect(status.reason).toMatch(/software/i);

    const lines: string[] = [];
    const choice = await useBackend('auto', { backends: [cpuBackend(), wasmBackend(), webgpu], log: (line) => lines.push(line) });
    console.info(lines.join('\n'));
    expect(choice.name).toBe('wasm');
    expect(lines.join('\n')).toMatch(/webgpu/);

    const report = await checkBackendConformance({
      backends: [cpuBackend(), wasmBackend(), webgpu],
      required: process.env['CI'] ? ['wasm', 'webgpu'] : [],
      strategy: hardSharing(),
      steps: 2,
    });
    console.info(report.runs.map((r) => `${r.backend} / ${r.case}: ${JSON.stringify(r)}`).join('\n'));
    expect(report.ran).toEqual(['cpu', 'wasm', 'webgpu']);
    expect(report.runs.filter((r) => r.backend === 'webgpu').length).toBe(report.cases.length);
    await useBackend('cpu', { backends: [cpuBackend()], log: () => {} });
    expect(tf.getBackend()).toBe('cpu');
  }, 240_000);
});
