import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hasSwiftShader, swiftShaderSkip } from '../test/system';

// These run the BUILT package in plain Node, outside vitest: what a user gets, and whether the
// process exits on its own once WebGPU is released.
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const EXIT_TIMEOUT_MS = 60_000;

interface Run {
  output: string;
  milliseconds: number;
}

function node(args: string[], env: Record<string, string | undefined> = {}): Run {
  const childEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { cwd: packageDir, encoding: 'utf8', timeout: EXIT_TIMEOUT_MS, env: childEnv });
  const milliseconds = performance.now() - started;
  if (result.error || result.signal) {
    throw new Error(`the child process did not exit within ${EXIT_TIMEOUT_MS} ms (${result.error?.message ?? result.signal}); output:\n${result.stdout}${result.stderr}`);
  }
  if (result.status !== 0) throw new Error(`the child process exited with ${result.status}:\n${result.stdout}${result.stderr}`);
  return { output: result.stdout, milliseconds };
}

function lastJson<T>(output: string): T {
  return JSON.parse(output.trim().split('\n').pop()!) as T;
}

/** Activates webgpu, runs one op, reads it, releases; prints { backend, value, gpuAfter }. */
const oneOp = `
  await webgpu.webgpuBackend().activate();
  const backend = tf.getBackend();
  const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
  const value = (await product.data())[0];
  await webgpu.releaseWebGpu();
  console.log(JSON.stringify({ backend, value, gpuAfter: typeof globalThis.navigator?.gpu }));
`;

// Without a user setting, so that the plugin chooses.
const noVulkanEnv = { VK_ICD_FILENAMES: undefined, VK_DRIVER_FILES: undefined };

describe('the built package in plain Node', () => {
  it('has been built', () => {
    expect(existsSync(`${packageDir}/dist/index.cjs`) && existsSync(`${packageDir}/dist/index.js`), 'run `npx tsup` in packages/backend-webgpu first').toBe(true);
  });

  it.skipIf(!hasSwiftShader)(`activates, runs one op, releases, and the process exits (ESM)${swiftShaderSkip}`, () => {
    const script = `
      const webgpu = await import('@mtljs/backend-webgpu');
      const tf = await import('@tensorflow/tfjs-core');
      ${oneOp}`;
    const run = node(['--input-type=module', '-e', script], noVulkanEnv);
    console.info(`ESM child: activate + one op + release + exit in ${run.milliseconds.toFixed(0)} ms`);
    expect(lastJson(run.output)).toEqual({ backend: 'webgpu', value: 11, gpuAfter: 'undefined' });
  });

  it.skipIf(!hasSwiftShader)(`the same through require() (CommonJS)${swiftShaderSkip}`, () => {
    const script = `
      const webgpu = require('@mtljs/backend-webgpu');
      const tf = require('@tensorflow/tfjs-core');
      (async () => {${oneOp}})().catch((error) => { console.error(error); process.exit(1); });`;
    const run = node(['-e', script], noVulkanEnv);
    expect(lastJson(run.output)).toEqual({ backend: 'webgpu', value: 11, gpuAfter: 'undefined' });
  });

  const probe = (options: string) => `
    const { webgpuBackend } = await import('@mtljs/backend-webgpu');
    const status = await webgpuBackend(${options}).isAvailable();
    console.log(JSON.stringify({ ...status, vk: process.env.VK_ICD_FILENAMES ?? null }));`;

  it("leaves a user's VK_ICD_FILENAMES alone and names it in the reason", () => {
    const run = node(['--input-type=module', '-e', probe('')], { ...noVulkanEnv, VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    const status = lastJson<{ available: boolean; reason: string; vk: string }>(run.output);
    expect(status.vk).toBe('/nonexistent/icd.json');
    expect(status.available).toBe(false);
    expect(status.reason).toContain('found no WebGPU adapter');
    expect(status.reason).toContain('Vulkan driver from the environment: /nonexistent/icd.json');
  });

  it("swiftshader: false sets nothing", () => {
    const run = node(['--input-type=module', '-e', probe('{ swiftshader: false }')], noVulkanEnv);
    const status = lastJson<{ available: boolean; reason: string; vk: string | null }>(run.output);
    expect(status.vk).toBeNull();
    expect(status.reason).not.toContain('SwiftShader (VK_ICD_FILENAMES');
  });
});
