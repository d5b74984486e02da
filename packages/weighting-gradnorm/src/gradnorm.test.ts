import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { MtlError, Rng, Trainer, createRegistry, isMtlError, type Batch, type StepInfo, type TaskSpec, type Weighting } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, stepInfoFor, thrownBy, trainerSmokeCheck, weighGramian } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { gradnorm, type GradNormState } from './gradnorm';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Plugin = ReturnType<typeof gradnorm>;

const infoFor = (taskNames: string[], active: number[], step = 0, epoch = 0) => stepInfoFor(taskNames, { active, step, epoch, site: 'last-shared' });

/** One call as the engine makes it: G and the losses as tensors, disposed after the call. */
const weighOnce = (plugin: Plugin, gramian: number[][], losses: number[], state: GradNormState, info: StepInfo) => weighGramian(plugin, gramian, { losses, state, info });

function sum(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0);
}

const names3 = ['a', 'b', 'c'];
// n = [1, 2, 4] on the diagonal; off-diagonals make it a real Gramian (positive definite: leading
// minors 1, 3.75, 50) and must not matter, since GradNorm reads only the norms √G_tt.
const G3 = [
  [1, 0.5, -1],
  [0.5, 4, 2],
  [-1, 2, 16],
];

describe('hand-computed updates', () => {
  it('one update from a constructed state (α = 2, learning rate 0.1)', () => {
    const plugin = gradnorm({ alpha: 2, learningRate: 0.1 });
    const state: GradNormState = {
      weights: [1.5, 1, 0.5],
      referenceLossSums: [2, 1, 0.5],
      referenceLossCounts: [1, 1, 1],
      referenceEpochs: [0, 0, 0],
      lastGradNormLoss: null,
    };
    const frozen = JSON.stringify(state);
    const { weights, state: next } = weighOnce(plugin, G3, [1, 1.5, 0.5], state, infoFor(names3, [0, 1, 2], 5));
    // By hand:
    //   n = √diag(G) = [1, 2, 4];  G_t = w_t n_t = [1.5, 2, 2];  Ḡ = 5.5 / 3 = 11/6
    //   L̃ = L / L(0) = [1/2, 1.5/1, 0.5/0.5] = [0.5, 1.5, 1];  mean 1  →  r = [0.5, 1.5, 1]
    //   targets = Ḡ r² = 11/6 · [1/4, 9/4, 1] = [11/24, 99/24, 44/24]
    //   G_t − target = [36/24 − 11/24, 48/24 − 99/24, 48/24 − 44/24] = [25/24, −51/24, 4/24]
    //   ℒ = (25 + 51 + 4) / 24 = 10/3
    //   ∂ℒ/∂w = sign · n = [+1, −2, +4]
    //   w − 0.1 ∂ℒ/∂w = [1.4, 1.2, 0.1], sum 2.7  →  × 3/2.7 = [14/9, 12/9, 1/9]
    const n = [1, 2, 4];
    const gradientNorms = [1.5, 2, 2];
    const meanNorm = 11 / 6;
    const rates = [0.5, 1.5, 1];
    const targets = [11 / 24, 99 / 24, 44 / 24];
    const gradNormLoss = 10 / 3;
    const dLossdW = [1, -2, 4];
    const stepped = [1.4, 1.2, 0.1];
    const renormalised = [14 / 9, 12 / 9, 1 / 9];
    // The hand numbers are consistent with one another:
    gradientNorms.forEach((g, t) => expect(g).toBeCloseTo(state.weights[t]! * n[t]!, 12));
    expect(meanNorm).toBeCloseTo(sum(gradientNorms) / 3, 12);
    targets.forEach((target, t) => expect(target).toBeCloseTo(meanNorm * rates[t]! ** 2, 12));
    expect(gradNormLoss).toBeCloseTo(sum(gradientNorms.map((g, t) => Math.abs(g - targets[t]!))), 12);
    stepped.forEach((w, t) => expect(w).toBeCloseTo(state.weights[t]! - 0.1 * dLossdW[t]!, 12));
    expect(sum(stepped)).toBeCloseTo(2.7, 12);
    // The plugin: the weights of this step are those before the update.
    expect(weights).toEqual([1.5, 1, 0.5]);
    expect(next.lastGradNormLoss!).toBeCloseTo(gradNormLoss, 6);
    next.weights.forEach((w, t) => expect(w).toBeCloseTo(renormalised[t]!, 6));
    expect(sum(next.weights)).toBeCloseTo(3, 12);
    // The reference losses were already known: unchanged in 'first-step' mode.
    expect(next.referenceLossSums).toEqual([2, 1, 0.5]);
    expect(next.referenceLossCounts).toEqual([1, 1, 1]);
    expect(JSON.stringify(state)).toBe(frozen);
  });

  it('two steps from init with the defaults (α = 1.5, learning rate 0.025)', () => {
    const plugin = gradnorm();
    const init = plugin.init({ taskNames: names3, seed: 0 });
    expect(init.weights).toEqual([1, 1, 1]);

    // Step 1, losses L(0) = [2, 1, 0.5]: every L̃ = 1, r = 1.
    //   G_t = [1, 2, 4], Ḡ = 7/3, targets = 7/3;  G_t − target = [−4/3, −1/3, 5/3];  ℒ = 10/3
    //   ∂ℒ/∂w = [−1, −2, +4];  w − 0.025 ∂ℒ/∂w = [1.025, 1.05, 0.9], sum 2.975
    //   × 3/2.975  →  [123/119, 126/119, 108/119]
    const first = weighOnce(plugin, G3, [2, 1, 0.5], init, infoFor(names3, [0, 1, 2], 0));
    expect(first.weights).toEqual([1, 1, 1]);
    expect(first.state.lastGradNormLoss!).toBeCloseTo(10 / 3, 6);
    const w1 = [123 / 119, 126 / 119, 108 / 119];
    first.state.weights.forEach((w, t) => expect(w).toBeCloseTo(w1[t]!, 6));
    expect(first.state.referenceLossSums).toEqual([2, 1, 0.5]);
    expect(first.state.referenceLossCounts).toEqual([1, 1, 1]);

    // Step 2, losses [1, 1.5, 0.5]: L̃ = [0.5, 1.5, 1], mean 1, r = [0.5, 1.5, 1].
    //   G_t = w n = [123, 252, 432] / 119;  Ḡ = 807 / 357 = 269/119
    //   targets = Ḡ r^1.5 = 269/119 · [0.5^1.5, 1.5^1.5, 1] ≈ [0.799209, 4.152811, 2.260504]
    //   G_t − target ≈ [1.033613 − 0.799209, 2.117647 − 4.152811, 3.630252 − 2.260504]
    //                = [+0.234405, −2.035164, +1.369748]
    //   ℒ ≈ 3.639317;  ∂ℒ/∂w = [+1, −2, +4]
    //   w − 0.025 ∂ℒ/∂w = [123/119 − 0.025, 126/119 + 0.05, 108/119 − 0.1], sum 2.925  →  × 3/2.925
    const second = weighOnce(plugin, G3, [1, 1.5, 0.5], first.state, infoFor(names3, [0, 1, 2], 1));
    second.weights.forEach((w, t) => expect(w).toBeCloseTo(w1[t]!, 6));
    const meanNorm = 269 / 119;
    const targets = [meanNorm * 0.5 ** 1.5, meanNorm * 1.5 ** 1.5, meanNorm];
    const gradientNorms = [123 / 119, 252 / 119, 432 / 119];
    expect(targets[0]).toBeCloseTo(0.799209, 5);
    expect(targets[1]).toBeCloseTo(4.152811, 5);
    const gradNormLoss = sum(gradientNorms.map((g, t) => Math.abs(g - targets[t]!)));
    expect(gradNormLoss).toBeCloseTo(3.639317, 5);
    expect(second.state.lastGradNormLoss!).toBeCloseTo(gradNormLoss, 5);
    const stepped = [123 / 119 - 0.025, 126 / 119 + 0.05, 108 / 119 - 0.1];
    expect(sum(stepped)).toBeCloseTo(2.925, 12);
    stepped.forEach((w, t) => expect(second.state.weights[t]!).toBeCloseTo((w * 3) / 2.925, 6));
  });

  it("initialLoss 'first-epoch-mean': running mean during the first epoch, then frozen (α = 1, learning rate 0.1)", () => {
    const names = ['a', 'b'];
    const identity = [
      [1, 0],
      [0, 1],
    ];
    const run = (initialLoss: 'first-step' | 'first-epoch-mean') => {
      const plugin = gradnorm({ alpha: 1, learningRate: 0.1, initialLoss });
      const s0 = plugin.init({ taskNames: names, seed: 0 });
      const s1 = weighOnce(plugin, identity, [2, 1], s0, infoFor(names, [0, 1], 0, 0)).state;
      const s2 = weighOnce(plugin, identity, [4, 1], s1, infoFor(names, [0, 1], 1, 0)).state;
      const s3 = weighOnce(plugin, identity, [1.5, 0.5], s2, infoFor(names, [0, 1], 2, 1)).state;
      return [s1, s2, s3] as const;
    };
    // n = [1, 1], w = [1, 1].
    // Step 1 (epoch 0), losses [2, 1]: references [2, 1], every L̃ = 1, targets = Ḡ = 1 = G_t: ℒ = 0,
    // ties, no change.
    // Step 2 (epoch 0), losses [4, 1]: running-mean references [(2+4)/2, 1] = [3, 1];
    //   L̃ = [4/3, 1], mean 7/6, r = [8/7, 6/7]; targets = 1 · r; G_t − target = [−1/7, +1/7]; ℒ = 2/7;
    //   w − 0.1 [−1, +1] = [1.1, 0.9] (sum 2: no rescaling).
    // Step 3 (epoch 1), losses [1.5, 0.5]: references frozen at [3, 1]: L̃ = [0.5, 0.5], r = [1, 1];
    //   G_t = [1.1, 0.9], Ḡ = 1, targets [1, 1]; G_t − target = [0.1, −0.1]; ℒ = 0.2; w → [1, 1].
    const [e1, e2, e3] = run('first-epoch-mean');
    expect(e1.lastGradNormLoss).toBeCloseTo(0, 12);
    expect(e1.weights).toEqual([1, 1]);
    expect(e2.lastGradNormLoss!).toBeCloseTo(2 / 7, 6);
    expect(e2.weights[0]).toBeCloseTo(1.1, 6);
    expect(e2.weights[1]).toBeCloseTo(0.9, 6);
    expect(e3.referenceLossSums).toEqual([6, 2]);
    expect(e3.referenceLossCounts).toEqual([2, 2]);
    expect(e3.referenceEpochs).toEqual([0, 0]);
    expect(e3.lastGradNormLoss!).toBeCloseTo(0.2, 6);
    expect(e3.weights[0]).toBeCloseTo(1, 6);
    expect(e3.weights[1]).toBeCloseTo(1, 6);
    // 'first-step' at step 2: references [2, 1], L̃ = [2, 1], mean 1.5, r = [4/3, 2/3];
    //   G_t − target = [−1/3, +1/3]; ℒ = 2/3.
    const [, f2] = run('first-step');
    expect(f2.lastGradNormLoss!).toBeCloseTo(2 / 3, 6);
    expect(f2.referenceLossSums).toEqual([2, 1]);
  });

  it('a single active task: r = 1, target = G_1, ℒ = 0, weights unchanged', () => {
    const plugin = gradnorm({ learningRate: 0.5 });
    const state = { ...plugin.init({ taskNames: names3, seed: 0 }), weights: [2, 0.5, 0.5] };
    const { weights, state: next } = weighOnce(plugin, [[9]], [3], state, infoFor(names3, [0]));
    expect(weights).toEqual([2]);
    expect(next.lastGradNormLoss).toBe(0);
    expect(next.weights).toEqual([2, 0.5, 0.5]);
  });
});

describe('properties', () => {
  function randomGramian(rng: Rng, count: number): number[][] {
    // J J^T with rows of very different scales (1e-6 … 1e6), and now and then an all-zero row.
    const rows = Array.from({ length: count }, () => {
      const scale = rng.uniform() < 0.1 ? 0 : 10 ** (rng.uniform() * 12 - 6);
      return Array.from({ length: 6 }, () => rng.normal() * scale);
    });
    return rows.map((a) => rows.map((b) => a.reduce((s, v, i) => s + v * b[i]!, 0)));
  }

  it('weights stay positive, finite and sum to T over many random steps, extreme ones included', () => {
    const rng = Rng.fromSeed(7);
    const names = ['a', 'b', 'c', 'd'];
    for (const options of [{}, { learningRate: 10, alpha: 3 }, { learningRate: 1000, alpha: 0 }, { initialLoss: 'first-epoch-mean' as const }]) {
      const plugin = gradnorm(options);
      let state = plugin.init({ taskNames: names, seed: 0 });
      for (let step = 0; step < 300; step++) {
        const active = names.map((_, i) => i).filter(() => rng.uniform() < 0.7);
        if (active.length === 0) active.push(step % names.length);
        const losses = active.map(() => (rng.uniform() < 0.05 ? 0 : 10 ** (rng.uniform() * 14 - 8)));
        const before = state.weights;
        const result = weighOnce(plugin, randomGramian(rng, active.length), losses, state, infoFor(names, active, step, Math.floor(step / 50)));
        expect(result.weights).toEqual(active.map((i) => before[i]!));
        state = result.state;
        for (const w of state.weights) {
          expect(Number.isFinite(w)).toBe(true);
          expect(w).toBeGreaterThan(0);
        }
        expect(Math.abs(sum(state.weights) - names.length)).toBeLessThan(1e-9);
        expect(JSON.parse(JSON.stringify(state))).toEqual(state);
      }
    }
  });

  it('inactive tasks: a direct call keeps their weights in proportion; all weights sum to T', () => {
    const plugin = gradnorm({ learningRate: 0.1 });
    const state = { ...plugin.init({ taskNames: names3, seed: 0 }), weights: [1.5, 1, 0.5] };
    // Task 'b' inactive: active a, c with n = [1, 4], L̃ = 1 (first step) so r = 1;
    // G_t = [1.5, 2], Ḡ = 1.75, gaps [−0.25, +0.25]; w_a + 0.1, w_c − 0.4 → [1.6, 1, 0.1], sum 2.7
    // → × 3/2.7 = [16/9, 10/9, 1/9]: b is rescaled with the others.
    const { weights, state: next } = weighOnce(
      plugin,
      [
        [1, 0],
        [0, 16],
      ],
      [2, 0.5],
      state,
      infoFor(names3, [0, 2]),
    );
    expect(weights).toEqual([1.5, 0.5]);
    [16 / 9, 10 / 9, 1 / 9].forEach((w, t) => expect(next.weights[t]!).toBeCloseTo(w, 6));
    expect(next.referenceEpochs).toEqual([0, null, 0]);
    expect(next.referenceLossCounts).toEqual([1, 0, 1]);
  });

  it('inactive tasks in training: active weights positive, the inactive one reported 0, all sum to T', () => {
    const tasks: TaskSpec[] = names3.map((name) => ({ name, kind: 'regression', units: 1 }));
    const model = hardSharing().build({ tasks, inputShape: [5], encoder: { type: 'mlp', units: [8, 6] } }, { seed: 3 });
    const trainer = new Trainer({ model, weighting: gradnorm({ learningRate: 0.2 }), seed: 3, optimizer: { name: 'sgd', learningRate: 0.05 } });
    const inputs = tf.randomNormal([12, 5], 0, 1, 'float32', 11);
    const targets = { a: tf.randomNormal([12], 0, 1, 'float32', 12), b: tf.randomNormal([12], 0, 3, 'float32', 13), c: tf.randomNormal([12], 0, 10, 'float32', 14) };
    const none = tf.zeros([12]);
    try {
      for (let step = 0; step < 12; step++) {
        const inactive = names3[step % 3]!;
        const batch: Batch = {
          inputs,
          targets: Object.fromEntries(names3.filter((t) => t !== inactive).map((t) => [t, targets[t as keyof typeof targets]])),
          masks: { [inactive]: none },
        };
        const report = trainer.step(batch);
        expect(report.active[inactive]).toBe(false);
        expect(report.weights[inactive]).toBe(0);
        for (const task of names3.filter((t) => t !== inactive)) expect(report.weights[task]!).toBeGreaterThan(0);
        const state = trainer.engine.weightingState as GradNormState;
        state.weights.forEach((w) => expect(w).toBeGreaterThan(0));
        expect(sum(state.weights)).toBeCloseTo(3, 9);
      }
    } finally {
      trainer.dispose();
      model.dispose();
      tf.dispose([inputs, none, ...Object.values(targets)]);
    }
  });

  it('permutation-equivariant over many steps (not only from init), which is why it claims permutationInvariant', () => {
    const rng = Rng.fromSeed(11);
    const names = ['a', 'b', 'c', 'd'];
    const permutation = [2, 0, 3, 1];
    const permutedNames = permutation.map((i) => names[i]!);
    const plugin = gradnorm({ learningRate: 0.05 });
    let original = plugin.init({ taskNames: names, seed: 0 });
    let moved = plugin.init({ taskNames: permutedNames, seed: 0 });
    for (let step = 0; step < 40; step++) {
      // A random (full) problem on the original order, and the same one on the permuted order.
      const gramian = randomGramian(rng, 4).map((row) => row.map((v) => v / 1e3));
      const losses = names.map(() => 0.1 + rng.uniform());
      const a = weighOnce(plugin, gramian, losses, original, infoFor(names, [0, 1, 2, 3], step));
      const pg = permutation.map((i) => permutation.map((j) => gramian[i]![j]!));
      const b = weighOnce(plugin, pg, permutation.map((i) => losses[i]!), moved, infoFor(permutedNames, [0, 1, 2, 3], step));
      permutation.forEach((i, k) => expect(b.weights[k]!).toBeCloseTo(a.weights[i]!, 5));
      original = a.state;
      moved = b.state;
    }
    expect(original.weights.some((w) => Math.abs(w - 1) > 0.01)).toBe(true);
  });

  it('losses × c leave the weights unchanged; G × c does not after the first update (so scaleInvariantWeights is not claimed)', () => {
    const plugin = gradnorm({ learningRate: 0.05 });
    const G = G3;
    const run = (gScale: number, lossScale: number) => {
      let state = plugin.init({ taskNames: names3, seed: 0 });
      const seen: number[][] = [];
      for (const losses of [
        [2, 1, 0.5],
        [1, 1.5, 0.5],
        [0.5, 1, 0.25],
      ]) {
        const result = weighOnce(
          plugin,
          G.map((row) => row.map((v) => v * gScale)),
          losses.map((l) => l * lossScale),
          state,
          infoFor(names3, [0, 1, 2]),
        );
        seen.push(result.weights);
        state = result.state;
      }
      return seen;
    };
    const base = run(1, 1);
    const lossScaled = run(1, 10);
    base.forEach((weights, s) => weights.forEach((w, t) => expect(lossScaled[s]![t]!).toBeCloseTo(w, 6)));
    // G × 100 scales every n_t by 10, so the first update moves the weights 10× further.
    const gScaled = run(100, 1);
    expect(gScaled[0]).toEqual(base[0]);
    expect(Math.abs(gScaled[1]![2]! - base[1]![2]!)).toBeGreaterThan(0.1);
  });
});

describe('conformance', () => {
  it('passes checkWeighting with the properties it has', async () => {
    const report = await checkWeighting(gradnorm(), { properties: { permutationInvariant: true } });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('trains in the engine at every site without leaks (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), gradnorm());
    expect(report.runs.map((run) => run.site)).toEqual(['last-shared', 'shared', 'features']);
  });

  it('declares level gramian, sites with last-shared first, and the options it accepts', () => {
    const plugin = gradnorm();
    expect(plugin.level).toBe('gramian');
    expect(plugin.sites).toEqual(['last-shared', 'shared', 'features']);
    expect(() => gradnorm({ alpha: -1 })).toThrow(/alpha/);
    expect(() => gradnorm({ alpha: Number.NaN })).toThrow(/alpha/);
    expect(() => gradnorm({ learningRate: 0 })).toThrow(/learningRate/);
    expect(() => gradnorm({ initialLoss: 'first-epoch' as never })).toThrow(/initialLoss/);
    expect(() => gradnorm({ aplha: 1 } as never)).toThrow(/aplha/);
    const error = thrownBy(() => gradnorm({ learningRate: Number.POSITIVE_INFINITY }));
    expect(isMtlError(error) && error.code).toBe('BAD_CONFIG');
  });

  it('is configured by name through a registry', () => {
    const registry = createRegistry();
    registry.register(gradnorm());
    const tasks: TaskSpec[] = [
      { name: 'x', kind: 'regression', units: 1 },
      { name: 'y', kind: 'regression', units: 1 },
    ];
    const model = hardSharing().build({ tasks, inputShape: [4], encoder: { type: 'mlp', units: [6, 5] } }, { seed: 1 });
    const batch: Batch = { inputs: tf.ones([3, 4]), targets: { x: tf.ones([3]), y: tf.zeros([3]) } };
    try {
      for (const weighting of ['gradnorm', { name: 'gradnorm', options: { alpha: 0.5, initialLoss: 'first-epoch-mean' } }]) {
        const trainer = new Trainer({ model, weighting, registry, seed: 1 });
        const report = trainer.step(batch);
        expect(report.weights).toEqual({ x: 1, y: 1 });
        expect(trainer.engine.site).toBe('last-shared');
        expect((trainer.engine.weightingState as GradNormState).lastGradNormLoss).not.toBeNull();
        trainer.dispose();
      }
      const caught = thrownBy(() => new Trainer({ model, weighting: { name: 'gradnorm', options: { learningrate: 1 } }, registry }));
      expect(isMtlError(caught)).toBe(true);
      expect((caught as MtlError).message).toContain('learningrate');
    } finally {
      model.dispose();
      tf.dispose([batch.inputs as tf.Tensor, ...(Object.values(batch.targets) as tf.Tensor[])]);
    }
  });
});

describe('benchmarks', () => {
  it('is no worse than 1.1× equal weighting on synthetic tasks (site last-shared)', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: gradnorm(),
      site: 'last-shared',
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('gradnorm vs EW (last-shared):', r);
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  }, 60_000);

  it('balances gradient norms: two tasks whose gradients differ ~100× (importance 100 on one)', async () => {
    // Task 2 gets importance c = 100: the engine differentiates 100·L_2, so its gradient is exactly
    // 100× what it would be (same data, same model), and EW applies Σ_t c_t ∇L_t. GradNorm sees the
    // same scaled gradients and must shrink w_2 by ~100× to bring ‖w_t g_t‖ together.
    // GradNorm's weight step is learningRate · n_t; with n_2 ≈ 60 the default 0.025 makes w_2 jump
    // by ~1.5 per step around a target near 0.02, so the rate is set to 1e-4 (steps of ~0.006).
    const measure = async (weighting: Weighting<any> | undefined) => {
      const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42, batchSize: 32 });
      const tasks = data.tasks.map((task, i) => (i === 1 ? { ...task, weight: 100 } : task));
      const model = hardSharing().build(
        { tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [64, 32] }, head: { type: 'mlp', units: [16] } },
        { seed: 42 },
      );
      const trainer = new Trainer({ model, weighting, site: weighting ? 'last-shared' : undefined, seed: 42, optimizer: { name: 'adam', learningRate: 3e-3 } });
      try {
        await trainer.fit(data.train, { epochs: 3 });
        const batch = data.validation.batches().next().value!;
        const prepared = trainer.engine.prepare(batch);
        const gradients = trainer.engine.taskGradients(prepared, 'last-shared');
        const norms = tf.tidy(() => Array.from(tf.sqrt(tf.sum(tf.square(gradients.jacobian), 1)).dataSync()));
        gradients.dispose();
        prepared.dispose();
        const weights = weighting ? (trainer.engine.weightingState as GradNormState).weights : [1, 1];
        const scaled = norms.map((n, t) => n * weights[t]!);
        return { norms, weights, scaled, spread: Math.max(...scaled) / Math.min(...scaled) };
      } finally {
        trainer.dispose();
        model.dispose();
      }
    };
    const ew = await measure(undefined);
    const balanced = await measure(gradnorm({ learningRate: 1e-4 }));
    console.log('‖w_t g_t‖ spread (max/min) at last-shared — EW:', ew.spread, ew, ' GradNorm:', balanced.spread, balanced);
    expect(ew.spread).toBeGreaterThan(20);
    expect(balanced.spread).toBeLessThan(ew.spread / 10);
  }, 60_000);
});
