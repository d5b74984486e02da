import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Acceptance: the BUILT package works in plain Node, with no vitest transform or bundler: both
// require() and import() load it, and gradients are registered (tfjs-core's own CommonJS build
// registers none). Turbo builds dist/ before the tests run.
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

const trainingStep = `
  await tf.setBackend('cpu');
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  const g = tf.variableGrads(() => tf.sum(tf.square(v)), [v]).grads[v.name];
  const rng = core.Rng.fromSeed(1);
  const enc = new core.DenseStack({ inputSize: 3, units: [4], activation: 'tanh', outputActivation: 'tanh', scope: 'e', rng });
  const head = new core.DenseStack({ inputSize: 4, units: [1], activation: 'relu', outputActivation: 'linear', scope: 'h', rng });
  const tasks = [{ name: 'y', kind: 'regression', units: 1 }];
  const model = {
    tasks, taskNames: ['y'],
    encode: (x, o) => enc.apply(x, o),
    decode: (f, x, o) => ({ y: head.apply(f, o) }),
    apply(x, o) { const f = enc.apply(x, o); return { features: f, outputs: { y: head.apply(f, o) } }; },
    sharedVariables: () => enc.variables(), lastSharedVariables: () => enc.lastLayerVariables(),
    taskVariables: () => head.variables(), getWeights: () => ({}), setWeights() {}, dispose() {},
  };
  const trainer = new core.Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.1 } });
  const batch = { inputs: tf.tensor2d([[1, 0, 2], [0, 1, -1]]), targets: { y: tf.tensor1d([1, -1]) } };
  const first = trainer.step(batch).loss;
  let last = first;
  for (let i = 0; i < 20; i++) last = trainer.step(batch).loss;
  console.log(JSON.stringify({ grad: Array.from(g.dataSync()), first, last }));
`;

function run(args: string[]): { grad: number[]; first: number; last: number } {
  const out = execFileSync(process.execPath, args, { cwd: packageDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('the built package in plain Node', () => {
  it('dist exists (turbo builds it before tests)', () => {
    expect(existsSync(join(packageDir, 'dist/index.cjs')) && existsSync(join(packageDir, 'dist/index.js'))).toBe(true);
  });

  it('require() loads it and a training step with gradients runs', () => {
    const result = run([
      '-e',
      `const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu'); const core = require('@mtljs/core');
       (async () => { ${trainingStep} })().catch((e) => { console.error(e); process.exit(1); });`,
    ]);
    expect(result.grad).toEqual([2, 4, 6]);
    expect(result.last).toBeLessThan(result.first);
  });

  it('import() loads it and a training step with gradients runs', () => {
    const result = run([
      '--input-type=module',
      '-e',
      `import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu'; const core = await import('@mtljs/core');
       ${trainingStep}`,
    ]);
    expect(result.grad).toEqual([2, 4, 6]);
    expect(result.last).toBeLessThan(result.first);
  });

  it('without any tfjs backend, building a model is a BACKEND_UNAVAILABLE MtlError, not tfjs\'s bare error', () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const core = require('@mtljs/core');
         try { new core.DenseStack({ inputSize: 2, units: [2], activation: 'relu', outputActivation: 'linear', scope: 's', rng: core.Rng.fromSeed(1) }); }
         catch (e) { console.log(JSON.stringify({ mtl: core.isMtlError(e, 'BACKEND_UNAVAILABLE'), message: e.message })); }`,
      ],
      { cwd: packageDir, encoding: 'utf8' },
    );
    const result = JSON.parse(out.trim());
    expect(result.mtl).toBe(true);
    expect(result.message).toMatch(/no tfjs backend is registered.*useBackend\('auto'\)/);
  });
});
