import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// These run the BUILT package in plain Node, outside vitest's module transform: what a user gets.
const packageDir = fileURLToPath(new URL('..', import.meta.url));

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: packageDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

const spec = `{ tasks: [{ name: 'a', kind: 'regression', units: 1 }, { name: 'b', kind: 'multiclass', units: 3 }], inputShape: [8], encoder: { type: 'mlp', units: [16, 8] } }`;

/** One Trainer step with hard sharing on the wasm backend, with no network; prints { backend, loss }. */
const trainOneStep = `
  globalThis.fetch = () => Promise.reject(new Error('fetch called: the .wasm binaries must come from node_modules'));
  await core.useBackend('wasm', { backends: [wasm.wasmBackend()], log: () => {} });
  const model = sharing.hardSharing().build(${spec}, { seed: 3 });
  const trainer = new core.Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.1 } });
  const batch = {
    inputs: tf.tensor2d(Array.from({ length: 32 }, (_, i) => Math.sin(i)), [4, 8]),
    targets: { a: tf.tensor1d([0.5, -1, 2, 0]), b: tf.tensor1d([0, 1, 2, 1]) },
  };
  const report = trainer.step(batch);
  console.log(JSON.stringify({ backend: core.currentBackend(), loss: report.loss }));
`;

function parse(output: string): { backend: string; loss: number } {
  const line = output.trim().split('\n').pop()!;
  return JSON.parse(line);
}

describe('the built package in plain Node', () => {
  it('has been built', () => {
    expect(existsSync(`${packageDir}/dist/index.cjs`) && existsSync(`${packageDir}/dist/index.js`), 'run `npx tsup` in packages/backend-wasm first').toBe(true);
  });

  it('trains on wasm through require() (CommonJS)', () => {
    const script = `
      const wasm = require('@mtljs/backend-wasm');
      const core = require('@mtljs/core');
      const sharing = require('@mtljs/sharing-hard');
      const tf = require('@tensorflow/tfjs-core');
      (async () => {${trainOneStep}})().catch((error) => { console.error(error); process.exit(1); });`;
    const result = parse(node(['-e', script]));
    expect(result.backend).toBe('wasm');
    expect(Number.isFinite(result.loss)).toBe(true);
  });

  it('trains on wasm through import() (ESM)', () => {
    const script = `
      const wasm = await import('@mtljs/backend-wasm');
      const core = await import('@mtljs/core');
      const sharing = await import('@mtljs/sharing-hard');
      const tf = await import('@tensorflow/tfjs-core');
      ${trainOneStep}`;
    const result = parse(node(['--input-type=module', '-e', script]));
    expect(result.backend).toBe('wasm');
    expect(Number.isFinite(result.loss)).toBe(true);
  });

  it('starts once when activations overlap, then activates again', () => {
    const script = `
      const { wasmBackend } = require('@mtljs/backend-wasm');
      const tf = require('@tensorflow/tfjs-core');
      Promise.all([wasmBackend().activate(), wasmBackend().activate()])
        .then(() => wasmBackend().activate())
        .then(() => console.log(tf.getBackend()), (error) => console.log('failed: ' + error.message));`;
    expect(node(['-e', script]).trim()).toBe('wasm');
  });

  it('reports a bad user path as BACKEND_UNAVAILABLE, naming the path', () => {
    const script = `
      const { wasmBackend } = require('@mtljs/backend-wasm');
      const { isMtlError } = require('@mtljs/core');
      wasmBackend({ wasmPaths: '/nonexistent/' }).activate().then(
        () => console.log('started'),
        (error) => console.log(isMtlError(error, 'BACKEND_UNAVAILABLE') ? 'BACKEND_UNAVAILABLE: ' + error.message : 'other: ' + error),
      );`;
    const output = node(['-e', script]);
    expect(output).toContain("BACKEND_UNAVAILABLE: backend 'wasm' failed to start");
    expect(output).toContain('/nonexistent/');
  });
});
