import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type LossStepInfo, type WeightingDiagnostics } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, lossStepInfoFor, taskNamesFor, thrownBy, TOY_STARTS, toyGradients, toyObjectives, toyProblem, trainerSmokeCheck, twoGradientMinNorm, withTinyModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { famo, type FamoOptions, type FamoState } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** One combine call as the engine makes it (inside a tidy); numbers out. */
function combineOnce(plugin: ReturnType<typeof famo>, losses: number[], state: FamoState, info: LossStepInfo) {
  let out: { loss: number; weights: number[]; state: FamoState; diagnostics?: WeightingDiagnostics } | undefined;
  tf.tidy(() => {
    const result = plugin.combine(tf.tensor1d(losses), state, info);
    out = { loss: result.loss.dataSync()[0]!, weights: [...(result.weights as number[])], state: result.state, diagnostics: result.diagnostics };
  });
  return out!;
}

/** ∂objective/∂L_t by tfjs autodiff, independent of the reported weights. */
function lossGradient(plugin: ReturnType<typeof famo>, losses: number[], state: FamoState, info: LossStepInfo): number[] {
  return tf.tidy(() => Array.from(tf.grad((l: tf.Tensor) => plugin.combine(l as tf.Tensor1D, state, info).loss)(tf.tensor1d(losses)).dataSync()));
}

function feed(taskCount: number, sequence: { losses: number[]; active?: number[] }[], options: FamoOptions = {}) {
  const plugin = famo(options);
  const taskNames = taskNamesFor(taskCount);
  let state = plugin.init({ taskNames, seed: 0 });
  return sequence.map((call, step) => {
    const active = call.active ?? taskNames.map((_, i) => i);
    const result = combineOnce(plugin, call.losses, state, lossStepInfoFor(taskNames, { active, step }));
    state = result.state;
    return result;
  });
}

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 6) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, digits));
};

describe('FAMO: the objective (hand computations)', () => {
  it('combine gives c·Σ z_t log D_t with gradient c·z_t/D_t, c = (Σ z_t/D_t)^{-1}', () => {
    const plugin = famo();
    const taskNames = taskNamesFor(3);
    const state: FamoState = {
      logits: [0.3, -0.2, 0],
      firstMoment: [0, 0, 0],
      secondMoment: [0, 0, 0],
      adamSteps: [0, 0, 0],
      previousLogLosses: [null, null, null], // no previous step: the logits stay as given
    };
    const losses = [2, 0.5, 1.5];
    // z = softmax(0.3, −0.2, 0) = (e^0.3, e^−0.2, 1)/3.1685896 = (0.4260125, 0.2583897, 0.3155978)
    // D = L + 1e-8; Σ z/D = 0.2130063 + 0.5167793 + 0.2103986 = 0.9401841 → c = 1.0636215
    // objective = c (0.4260125·ln 2 + 0.2583897·ln 0.5 + 0.3155978·ln 1.5) = 0.2596845
    // ∂/∂L_t = c z_t / D_t = (0.2265580, 0.5496576, 0.2237844), summing to 1
    const exps = [Math.exp(0.3), Math.exp(-0.2), 1];
    const z = exps.map((e) => e / (exps[0]! + exps[1]! + exps[2]!));
    const c = 1 / z.reduce((s, zi, i) => s + zi / (losses[i]! + 1e-8), 0);
    const objective = c * z.reduce((s, zi, i) => s + zi * Math.log(losses[i]! + 1e-8), 0);
    const effective = z.map((zi, i) => (c * zi) / (losses[i]! + 1e-8));
    expect(objective).toBeCloseTo(0.2596845, 6);
    expectClose(effective, [0.226558, 0.5496576, 0.2237844]);

    const result = combineOnce(plugin, losses, state, lossStepInfoFor(taskNames));
    expect(result.loss).toBeCloseTo(objective, 5);
    expectClose(result.weights, effective, 6);
    expectClose(lossGradient(plugin, losses, state, lossStepInfoFor(taskNames)), effective, 5);
    expect(result.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 12);
    expect(result.diagnostics?.values).toEqual({ 'z/task0': expect.closeTo(z[0]!, 10), 'z/task1': expect.closeTo(z[1]!, 10), 'z/task2': expect.closeTo(z[2]!, 10) });
    // The logits did not move (nothing to compare with yet); the log-losses are remembered.
    expect(result.state.logits).toEqual([0.3, -0.2, 0]);
    expectClose(result.state.previousLogLosses as number[], losses.map((l) => Math.log(l + 1e-8)), 12);
  });

  it('minLosses shifts the losses: D_t = L_t − ℓ*_t + ε, so negative losses work above their bound', () => {
    // Fresh state: z = (½, ½). Losses (−3, −20) with bounds −21: D = (18, 1);
    // c = 1/(0.5/18 + 0.5/1) = 36/19 = 1.8947368; weights c·z/D = (1/19, 18/19) = (0.0526316, 0.9473684);
    // objective c·(½ ln 18 + ½ ln 1) = (18/19) ln 18 = 2.7382469.
    const results = feed(2, [{ losses: [-3, -20] }], { minLosses: -21 });
    expectClose(results[0]!.weights, [1 / 19, 18 / 19]);
    expect(results[0]!.loss).toBeCloseTo((18 / 19) * Math.log(18), 5);
    // Per-task bounds.
    const perTask = feed(2, [{ losses: [1, 3] }], { minLosses: [0.5, 1] });
    // D = (0.5, 2): weights ∝ (0.5/0.5, 0.5/2) = (1, 0.25) → (0.8, 0.2)
    expectClose(perTask[0]!.weights, [0.8, 0.2]);
  });

  it('a loss at or below its bound raises NON_FINITE_LOSS naming the task and the option', () => {
    const error = thrownBy(() => feed(2, [{ losses: [1, -0.5] }]));
    expect(isMtlError(error, 'NON_FINITE_LOSS')).toBe(true);
    expect((error as Error).message).toMatch(/task 'task1'.*minLosses/);
  });

  it('scaling one task’s loss by k (its importance) leaves the direction of the update (minLosses 0)', () => {
    // w_t ∇(k_t L_t) = c z_t/(k_t L_t) · k_t ∇L_t = c z_t ∇L_t / L_t: only the common factor c
    // changes, and δ_t = log(k L_t) − log(k L_t') does not depend on k, so z does not either.
    const plain = feed(2, [{ losses: [1, 2] }, { losses: [0.5, 1.8] }]);
    const scaled = feed(2, [{ losses: [10, 2] }, { losses: [5, 1.8] }]);
    expect(scaled[1]!.state.logits[0]).toBeCloseTo(plain[1]!.state.logits[0]!, 6);
    expect((scaled[1]!.weights[0]! * 10) / scaled[1]!.weights[1]!).toBeCloseTo(plain[1]!.weights[0]! / plain[1]!.weights[1]!, 5);
  });
});

describe('FAMO: the logits’ own Adam (hand computations)', () => {
  it('updates ξ from δ = log L(previous) − log L(now) through the softmax Jacobian, with Adam and decay γ', () => {
    // Defaults: β = 0.025, γ = 1e-3, Adam (0.9, 0.999, 1e-8) as torch.optim.Adam.
    const results = feed(2, [{ losses: [4, 1] }, { losses: [2, 0.9] }, { losses: [1.5, 0.85] }]);
    // Step 0: nothing to compare with; ξ = 0, z = (½, ½), weights ∝ z/L = (1/8, 1/2) → (0.2, 0.8).
    expectClose(results[0]!.weights, [0.2, 0.8]);
    expect(results[0]!.state.logits).toEqual([0, 0]);
    // Step 1: δ = (ln 4 − ln 2, ln 1 − ln 0.9) = (0.6931472, 0.1053605); z·δ = 0.3992538;
    // g = z (δ − z·δ) + γ ξ = (0.1469467, −0.1469467). First Adam step: m̂ = g, v̂ = g²,
    // so ξ = −0.025 · g/(|g| + 1e-8) = (−0.025, 0.025) up to 2e-9.
    const delta1 = [Math.log(4) - Math.log(2), Math.log(1) - Math.log(0.9)];
    const g1 = 0.5 * (delta1[0]! - 0.5 * (delta1[0]! + delta1[1]!));
    expect(g1).toBeCloseTo(0.1469467, 6);
    expectClose(results[1]!.state.logits, [-0.025, 0.025], 8);
    // (The losses pass through float32 tensors: agreement to ~1e-8.)
    expectClose(results[1]!.state.firstMoment, [0.1 * g1, -0.1 * g1], 8);
    expectClose(results[1]!.state.secondMoment, [0.001 * g1 * g1, 0.001 * g1 * g1], 10);
    expect(results[1]!.state.adamSteps).toEqual([1, 1]);
    // The task that improved more (task0, halved) loses weight: z = softmax(−0.025, 0.025).
    const z1 = [1 / (1 + Math.exp(0.05)), 1 / (1 + Math.exp(-0.05))]; // (0.4875026, 0.5124974)
    const c1 = 1 / (z1[0]! / 2 + z1[1]! / 0.9);
    expectClose(results[1]!.weights, [(c1 * z1[0]!) / 2, (c1 * z1[1]!) / 0.9]); // (0.2997460, 0.7002540)
    expect(results[1]!.diagnostics?.values?.['z/task0']).toBeCloseTo(0.4875026, 6);

    // Step 2: δ = (ln 2 − ln 1.5, ln 0.9 − ln 0.85); g2 = z1 (δ − z1·δ) + γ ξ1;
    // m = 0.9·m1 + 0.1·g2, v = 0.999·v1 + 0.001·g2²; ξ2 = ξ1 − 0.025 · (m/(1 − 0.9²)) / (√(v/(1 − 0.999²)) + 1e-8).
    const xi1 = results[1]!.state.logits;
    const delta2 = [Math.log(2) - Math.log(1.5), Math.log(0.9) - Math.log(0.85)];
    const mean2 = z1[0]! * delta2[0]! + z1[1]! * delta2[1]!;
    const g2 = [0, 1].map((i) => z1[i]! * (delta2[i]! - mean2) + 1e-3 * xi1[i]!);
    const m2 = [0, 1].map((i) => 0.9 * (i === 0 ? 0.1 * g1 : -0.1 * g1) + 0.1 * g2[i]!);
    const v2 = [0, 1].map((i) => 0.999 * 0.001 * g1 * g1 + 0.001 * g2[i]! ** 2);
    const xi2 = [0, 1].map((i) => xi1[i]! - (0.025 * (m2[i]! / (1 - 0.81))) / (Math.sqrt(v2[i]! / (1 - 0.998001)) + 1e-8));
    expectClose(results[2]!.state.logits, xi2, 7);
    expectClose(results[2]!.state.logits, [-0.0473852, 0.0473852], 6); // worked separately, in float64
    expectClose(results[2]!.weights, [0.3401211, 0.6598789], 6);
  });

  it('logitLearningRate and gamma: a larger rate moves ξ further; γ pulls ξ back towards 0', () => {
    const sequence = [{ losses: [4, 1] }, { losses: [2, 0.9] }, { losses: [1.9, 0.5] }, { losses: [1.8, 0.45] }];
    const slow = feed(2, sequence, { logitLearningRate: 0.01 }).at(-1)!.state.logits;
    const fast = feed(2, sequence, { logitLearningRate: 0.1 }).at(-1)!.state.logits;
    expect(Math.abs(fast[0]!)).toBeGreaterThan(Math.abs(slow[0]!));
    // With the decrease gone (constant losses, δ = 0), only γ ξ drives the Adam step: ξ shrinks.
    const flat = feed(2, [...sequence, ...Array.from({ length: 30 }, () => ({ losses: [1.8, 0.45] }))], { gamma: 0.5 });
    const start = flat[3]!.state.logits;
    const end = flat.at(-1)!.state.logits;
    expect(Math.abs(end[0]!)).toBeLessThan(Math.abs(start[0]!));
  });

  it('inactive tasks: their logits and Adam moments stay; the softmax runs over the tasks active at both steps', () => {
    const results = feed(3, [
      { losses: [4, 1, 2] },
      { losses: [2, 1.5], active: [0, 2] }, // task1 inactive: no δ for it
      { losses: [1.5, 0.9, 1.4] }, // task1 back, but inactive at the previous step: still no δ
      { losses: [1.4, 0.8, 1.3] }, // now all three
    ]);
    // Step 1: δ over {0, 2} = (ln 4 − ln 2, ln 2 − ln 1.5) with z = (½, ½) over those two:
    // g_0 = ½(δ_0 − mean) > 0 = −g_2, so the first Adam step gives ξ = (−0.025, 0, 0.025).
    expectClose(results[1]!.state.logits, [-0.025, 0, 0.025], 8);
    expect(results[1]!.state.adamSteps).toEqual([1, 0, 1]);
    expect(results[1]!.weights).toHaveLength(2);
    const z = [1 / (1 + Math.exp(0.05)), 1 / (1 + Math.exp(-0.05))];
    const c = 1 / (z[0]! / 2 + z[1]! / 1.5);
    expectClose(results[1]!.weights, [(c * z[0]!) / 2, (c * z[1]!) / 1.5]);
    expect(results[1]!.state.previousLogLosses[1]).toBeNull();
    // Step 2: δ over {0, 2} only; task1's Adam moments untouched.
    expect(results[2]!.state.adamSteps).toEqual([2, 0, 2]);
    expect(results[2]!.state.logits[1]).toBe(0);
    expect(results[2]!.state.firstMoment[1]).toBe(0);
    // Step 3: all three have a δ.
    expect(results[3]!.state.adamSteps).toEqual([3, 1, 3]);
    results.forEach((r) => expect(r.weights.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 10));
  });

  it('does not mutate the state it is given, and its state survives JSON', () => {
    const plugin = famo();
    const taskNames = taskNamesFor(2);
    const state0 = plugin.init({ taskNames, seed: 0 });
    const state1 = combineOnce(plugin, [3, 1], state0, lossStepInfoFor(taskNames)).state;
    const snapshot = JSON.stringify(state1);
    const state2 = combineOnce(plugin, [2, 0.9], state1, lossStepInfoFor(taskNames, { step: 1 })).state;
    expect(JSON.stringify(state1)).toBe(snapshot);
    expect(JSON.parse(JSON.stringify(state2))).toEqual(state2);
  });
});

describe('FAMO: random loss vectors', () => {
  it('1000 random calls (2–10 tasks, losses 1e-6…1e6, random logits): finite, weights > 0 summing to 1, equal to autodiff', () => {
    const rng = Rng.fromSeed(11);
    const plugin = famo();
    for (let trial = 0; trial < 1000; trial++) {
      const count = 2 + rng.int(9);
      const taskNames = taskNamesFor(count);
      const active = count > 2 && rng.uniform() < 0.3 ? taskNames.map((_, i) => i).filter((i) => i === 0 || rng.uniform() < 0.6) : taskNames.map((_, i) => i);
      const losses = active.map(() => 10 ** rng.uniform(-6, 6));
      const state: FamoState = {
        logits: taskNames.map(() => rng.normal(0, 3)),
        firstMoment: taskNames.map(() => rng.normal(0, 0.01)),
        secondMoment: taskNames.map(() => rng.uniform(0, 1e-3)),
        adamSteps: taskNames.map(() => rng.int(5)),
        previousLogLosses: taskNames.map(() => (rng.uniform() < 0.7 ? rng.uniform(-14, 14) : null)),
      };
      const info = lossStepInfoFor(taskNames, { active, step: trial });
      const result = combineOnce(plugin, losses, state, info);
      expect(Number.isFinite(result.loss)).toBe(true);
      result.weights.forEach((w) => expect(Number.isFinite(w) && w >= 0).toBe(true));
      expect(Math.abs(result.weights.reduce((s, w) => s + w, 0) - 1)).toBeLessThan(1e-9);
      for (const key of ['logits', 'firstMoment', 'secondMoment'] as const) result.state[key].forEach((v) => expect(Number.isFinite(v)).toBe(true));
      expect(JSON.parse(JSON.stringify(result.state))).toEqual(result.state);
      if (trial % 20 === 0) {
        // tfjs's float32 gradient against the float64 weights.
        const gradient = lossGradient(plugin, losses, state, info);
        gradient.forEach((g, k) => expect(Math.abs(g - result.weights[k]!)).toBeLessThan(1e-4 * Math.max(1, result.weights[k]!)));
      }
    }
  });
});

describe('FAMO: conformance, training and configuration', () => {
  it('passes checkWeighting with the properties it has', async () => {
    // Permutation: ξ and the Adam moments are per task, so permuting tasks permutes everything.
    // Scale: D_t = c L_t (minLosses 0, up to ε) leaves c·z_t/D_t … times c, i.e. the weights
    // z_t/D_t / Σ z_s/D_s, and δ_t, unchanged.
    const report = await checkWeighting(famo(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('trains in the engine without leaking (trainerSmokeCheck)', async () => {
    await trainerSmokeCheck(hardSharing(), famo());
  });

  it('is configured by name through a registry; a misspelt option is named in the error', () => {
    const registry = createRegistry();
    registry.register(famo());
    withTinyModel(hardSharing(), (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'famo', registry });
      const report = trainer.step(batch);
      expect(report.weights.a! + report.weights.b!).toBeCloseTo(1, 5);
      expect(Object.keys(report.diagnostics?.values ?? {})).toEqual(['z/a', 'z/b']);
      trainer.dispose();
      const configured = new Trainer({ model, weighting: { name: 'famo', options: { gamma: 0.01, logitLearningRate: 0.05 } }, registry });
      expect(Number.isFinite(configured.step(batch).loss)).toBe(true);
      configured.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'famo', options: { logitLearningrate: 1 } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/'logitLearningrate'/);
    });
  });

  it('refuses bad option values, naming the option', () => {
    expect(() => famo({ logitLearningRate: 0 })).toThrow(/'logitLearningRate'/);
    expect(() => famo({ gamma: -1 })).toThrow(/'gamma'/);
    expect(() => famo({ epsilon: Number.NaN })).toThrow(/'epsilon'/);
    expect(() => famo({ minLosses: [] })).toThrow(/'minLosses'/);
    expect(() => famo({ minLosses: [0, 1] }).init({ taskNames: taskNamesFor(3), seed: 0 })).toThrow(/'minLosses' has 2 values for 3 tasks/);
  });

  it('benchmark against equal weighting on synthetic tasks', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: famo(),
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('FAMO vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  });
});

/**
 * The Pareto front of the toy in objective space, by brute force: the non-dominated points of
 * (f1, f2) on a 0.02 grid over x1 ∈ [−8, 8], x2 ∈ [−10, −4] (the front lies at x2 ≈ −8.4).
 */
function toyFront(): [number, number][] {
  const points: [number, number][] = [];
  for (let i = 0; i <= 800; i++) {
    for (let j = 0; j <= 300; j++) points.push(toyObjectives(-8 + i * 0.02, -10 + j * 0.02));
  }
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const front: [number, number][] = [];
  let best = Number.POSITIVE_INFINITY;
  for (const point of points) {
    if (point[1] < best) {
      front.push(point);
      best = point[1];
    }
  }
  return front;
}

describe('FAMO on the CAGrad toy problem', () => {
  it('from the three starts, decreases both objectives and ends near the Pareto front', () => {
    // The toy's objectives reach about −20 (h_i ≥ −20, g_i ≥ log 5e-6 + 6 ≈ −6.2), so FAMO needs
    // minLosses below that; −21 is the authors' choice for their version of this toy.
    const front = toyFront();
    // The front runs from (−20, −0.4) to (−0.4, −20).
    expect(front[0]![0]).toBeCloseTo(-20, 0);
    expect(front.at(-1)![1]).toBeCloseTo(-20, 0);
    for (const start of TOY_STARTS) {
      const toy = toyProblem(start);
      const trainer = new Trainer({ model: toy.model, weighting: famo({ minLosses: -21 }), optimizer: { name: 'adam', learningRate: 0.01 } });
      try {
        const [f1Start, f2Start] = toyObjectives(start[0], start[1]);
        for (let i = 0; i < 2500; i++) trainer.step(toy.batch);
        const [x1, x2] = toy.position();
        const [f1, f2] = toyObjectives(x1, x2);
        const distance = Math.min(...front.map(([a, b]) => Math.hypot(f1 - a, f2 - b)));
        const minNorm = twoGradientMinNorm(...toyGradients(x1, x2));
        console.log(
          `FAMO toy from (${start.join(', ')}), 2500 Adam steps: end x = (${x1.toFixed(3)}, ${x2.toFixed(3)}), ` +
            `f = (${f1.toFixed(3)}, ${f2.toFixed(3)}) from (${f1Start.toFixed(3)}, ${f2Start.toFixed(3)}); ` +
            `distance to the front in objective space ${distance.toFixed(3)}; min-norm of the two gradients ${minNorm.toExponential(2)}`,
        );
        expect(f1).toBeLessThan(f1Start);
        expect(f2).toBeLessThan(f2Start);
        // Within 0.5 of the front (whose extent is about 20 in each objective) — about 2.5%.
        expect(distance).toBeLessThan(0.5);
      } finally {
        trainer.dispose();
        toy.dispose();
      }
    }
  }, 90_000);
});
