import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, taskNamesFor, thrownBy, trainerSmokeCheck, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { pcgrad, type PCGradState } from './pcgrad';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Helpers written for the tests, independent of the plugin: plain vector arithmetic on J.

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, k) => sum + x * b[k]!, 0);
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
/** u = wᵀJ = Σ_t w_t g_t. */
const combine = (weights: readonly number[], jacobian: number[][]) =>
  jacobian[0]!.map((_, column) => weights.reduce((sum, w, t) => sum + w * jacobian[t]![column]!, 0));

/** Calls weigh as the engine does: G (and the losses) as tensors it owns and disposes. */
const weigh = (plugin: ReturnType<typeof pcgrad>, gramian: number[][], state: PCGradState) => weighGramian(plugin, gramian, { state });

const weightsOf = (gramian: number[][], options: Parameters<typeof pcgrad>[0] = {}, seed = 0) => {
  const plugin = pcgrad(options);
  return weigh(plugin, gramian, plugin.init({ taskNames: taskNamesFor(gramian.length), seed })).weights;
};

/** PCGrad on explicit vectors (the paper's Algorithm 1) for one task i and one order of the others. */
function projectExplicitly(jacobian: number[][], i: number, order: readonly number[]): number[] {
  let projected = [...jacobian[i]!];
  for (const j of order) {
    const gj = jacobian[j]!;
    const inner = dot(projected, gj);
    if (inner < 0 && dot(gj, gj) > 0) projected = projected.map((x, k) => x - (inner / dot(gj, gj)) * gj[k]!);
  }
  return projected;
}

function permutations(items: number[]): number[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, k) => permutations([...items.slice(0, k), ...items.slice(k + 1)]).map((rest) => [item, ...rest]));
}

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value).toBeCloseTo(expected[k]!, digits));
};

// ---------------------------------------------------------------------------------------------

describe('pcgrad: hand-computed cases', () => {
  it('two conflicting tasks: J = [[-4,1,1],[6,1,1]], in both task orders', () => {
    const g1 = [-4, 1, 1];
    const g2 = [6, 1, 1];
    // By hand: ⟨g1,g2⟩ = −24 + 1 + 1 = −22, ‖g1‖² = 16 + 1 + 1 = 18, ‖g2‖² = 36 + 1 + 1 = 38.
    const gramian = [
      [18, -22],
      [-22, 38],
    ];
    expect(gramianOf([g1, g2])).toEqual(gramian);
    // g1^pc = g1 − (−22/38) g2 = g1 + (22/38) g2 = (−4 + 132/38, 1 + 22/38, 1 + 22/38) = (−20/38, 60/38, 60/38)
    // g2^pc = g2 − (−22/18) g1 = g2 + (22/18) g1 = (6 − 88/18, 1 + 22/18, 1 + 22/18)  = (20/18, 40/18, 40/18)
    // update = g1^pc + g2^pc = (1 + 22/18) g1 + (1 + 22/38) g2.
    const expectedWeights = [1 + 22 / 18, 1 + 22 / 38];
    const expectedUpdate = [-20 / 38 + 20 / 18, 60 / 38 + 40 / 18, 60 / 38 + 40 / 18];

    const weights = weightsOf(gramian);
    expectClose(weights, expectedWeights, 6);
    expectClose(combine(weights, [g1, g2]), expectedUpdate, 5);
    // Both projected gradients are orthogonal to the other task's gradient: ⟨g1^pc, g2⟩ = 0, ⟨g2^pc, g1⟩ = 0.
    expect(dot([-20 / 38, 60 / 38, 60 / 38], g2)).toBeCloseTo(0, 12);
    expect(dot([20 / 18, 40 / 18, 40 / 18], g1)).toBeCloseTo(0, 12);

    // Rows of J swapped: G's rows and columns swap, the weights swap, the update is the same.
    const swapped = weightsOf([
      [38, -22],
      [-22, 18],
    ]);
    expectClose(swapped, [expectedWeights[1]!, expectedWeights[0]!], 6);
    expectClose(combine(swapped, [g2, g1]), expectedUpdate, 5);
  });

  it("'mean' divides the summed weights by the number of active tasks", () => {
    const weights = weightsOf(
      [
        [18, -22],
        [-22, 38],
      ],
      { reduction: 'mean' },
    );
    expectClose(weights, [(1 + 22 / 18) / 2, (1 + 22 / 38) / 2], 6);
  });

  it('non-conflicting gradients are left alone: weights 1 (sum) or 1/T (mean)', () => {
    // g1 = (1,0,0), g2 = (1,1,0), g3 = (0,0,2), g4 = (0,0,0): every inner product ≥ 0.
    const jacobian = [
      [1, 0, 0],
      [1, 1, 0],
      [0, 0, 2],
      [0, 0, 0],
    ];
    const gramian = gramianOf(jacobian);
    expect(gramian.flat().every((v) => v >= 0)).toBe(true);
    expect(weightsOf(gramian)).toEqual([1, 1, 1, 1]);
    expect(weightsOf(gramian, { reduction: 'mean' })).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(weightsOf([[5]])).toEqual([1]);
    expect(weightsOf([[5]], { reduction: 'mean' })).toEqual([1]);
  });

  it('three tasks: the order matters, and the seed picks it', () => {
    // g1 = (−1, 0.5), g2 = (1, 0), g3 = (1, 1).
    // ⟨g1,g2⟩ = −1, ⟨g1,g3⟩ = −0.5, ⟨g2,g3⟩ = 1; ‖g1‖² = 1.25, ‖g2‖² = 1, ‖g3‖² = 2.
    const jacobian = [
      [-1, 0.5],
      [1, 0],
      [1, 1],
    ];
    const gramian = [
      [1.25, -1, -0.5],
      [-1, 1, 1],
      [-0.5, 1, 2],
    ];
    expect(gramianOf(jacobian)).toEqual(gramian);
    // Task 1, order (2, 3): g1 + (1/1) g2 = (0, 0.5); ⟨(0, 0.5), g3⟩ = 0.5 ≥ 0, stop.  g1^pc = g1 + g2.
    // Task 1, order (3, 2): g1 + (0.5/2) g3 = (−0.75, 0.75); ⟨·, g2⟩ = −0.75 < 0:
    //                       + 0.75 g2 → (0, 0.75).                            g1^pc = g1 + 0.75 g2 + 0.25 g3.
    // Task 2 (either order): ⟨g2,g3⟩ ≥ 0 is skipped; onto g1: g2 + (1/1.25) g1 = (0.2, 0.4),
    //                       and ⟨(0.2, 0.4), g3⟩ = 0.6 ≥ 0.                  g2^pc = 0.8 g1 + g2.
    // Task 3 (either order): ⟨g3,g2⟩ ≥ 0 is skipped; onto g1: g3 + (0.5/1.25) g1 = (0.6, 1.2),
    //                       and ⟨(0.6, 1.2), g2⟩ = 0.6 ≥ 0.                   g3^pc = 0.4 g1 + g3.
    // Weights = column sums of the coefficients:
    const orderTwoThree = [1 + 0.8 + 0.4, 1 + 1, 1]; // [2.2, 2, 1]
    const orderThreeTwo = [1 + 0.8 + 0.4, 0.75 + 1, 0.25 + 1]; // [2.2, 1.75, 1.25]
    expectClose(combine(orderTwoThree, jacobian), [0, 0.5].map((v, k) => v + [0.2, 0.4][k]! + [0.6, 1.2][k]!), 12);
    expectClose(combine(orderThreeTwo, jacobian), [0, 0.75].map((v, k) => v + [0.2, 0.4][k]! + [0.6, 1.2][k]!), 12);

    const seen = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const weights = weightsOf(gramian, {}, seed);
      const matchesTwoThree = weights.every((w, k) => Math.abs(w - orderTwoThree[k]!) < 1e-6);
      const matchesThreeTwo = weights.every((w, k) => Math.abs(w - orderThreeTwo[k]!) < 1e-6);
      expect(matchesTwoThree || matchesThreeTwo, `seed ${seed}: weights ${weights.join(', ')}`).toBe(true);
      seen.add(matchesTwoThree ? '2,3' : '3,2');
    }
    // Each order has probability 1/2 per call, so 40 seeds show both (failure odds 2^-39).
    expect([...seen].sort()).toEqual(['2,3', '3,2']);
  });

  it('with three tasks the update can conflict with a task, whatever the order', () => {
    // g1 = (3,−2,1), g2 = (0,−1,0), g3 = (−2,2,0).
    // ‖g1‖² = 14, ‖g2‖² = 1, ‖g3‖² = 8; ⟨g1,g2⟩ = 2, ⟨g1,g3⟩ = −10, ⟨g2,g3⟩ = −2.
    const jacobian = [
      [3, -2, 1],
      [0, -1, 0],
      [-2, 2, 0],
    ];
    const gramian = gramianOf(jacobian);
    expect(gramian).toEqual([
      [14, 2, -10],
      [2, 1, -2],
      [-10, -2, 8],
    ]);
    // One order by hand:
    // task 1, order (2,3): ⟨g1,g2⟩ ≥ 0, skip; g1 + (10/8) g3 = (0.5, 0.5, 1).          C1 = (1, 0, 10/8)
    // task 2, order (1,3): ⟨g2,g1⟩ ≥ 0, skip; g2 + (2/8) g3 = (−0.5, −0.5, 0).         C2 = (0, 1, 2/8)
    // task 3, order (1,2): g3 + (10/14) g1 = (2/14, 8/14, 10/14); ⟨·, g2⟩ = −8/14 < 0:
    //                      + (8/14) g2 = (1/7, 0, 5/7).                                C3 = (10/14, 8/14, 1)
    // w = C1 + C2 + C3 = (24/14, 22/14, 2.5);  u = (1/7, 0, 12/7);  ⟨u, g3⟩ = −2/7 < 0.
    const handWeights = [24 / 14, 22 / 14, 2.5];
    expectClose(combine(handWeights, jacobian), [1 / 7, 0, 12 / 7], 12);
    expect(dot(combine(handWeights, jacobian), jacobian[2]!)).toBeCloseTo(-2 / 7, 12);

    let sawHandOrder = false;
    for (let seed = 0; seed < 60; seed++) {
      const weights = weightsOf(gramian, {}, seed);
      const update = combine(weights, jacobian);
      const products = jacobian.map((g) => dot(update, g));
      // Every one of the 8 order combinations leaves the update conflicting with some task.
      expect(Math.min(...products), `seed ${seed}`).toBeLessThan(-0.1);
      if (weights.every((w, k) => Math.abs(w - handWeights[k]!) < 1e-6)) {
        sawHandOrder = true;
        expect(products[2]).toBeCloseTo(-2 / 7, 5);
      }
    }
    expect(sawHandOrder).toBe(true);
  });
});

describe('pcgrad: properties', () => {
  it('never conflicts with either task when there are two tasks (1000 random Jacobians)', () => {
    const rng = Rng.fromSeed(7);
    const plugin = pcgrad();
    let state = plugin.init({ taskNames: ['a', 'b'], seed: 7 });
    let conflicting = 0;
    for (let trial = 0; trial < 1000; trial++) {
      const columns = 2 + rng.int(7);
      const g1 = Array.from({ length: columns }, () => rng.normal(0, 1 + 4 * rng.next()));
      // g2 = a·g1 + noise with a in [−2, 2]: conflicting about half of the time; now and then a zero row.
      const a = rng.uniform(-2, 2);
      const g2 = trial % 50 === 0 ? new Array<number>(columns).fill(0) : g1.map((x) => a * x + rng.normal(0, 1));
      const jacobian = [g1, g2];
      if (dot(g1, g2) < 0) conflicting += 1;
      const result = weigh(plugin, gramianOf(jacobian), state);
      state = result.state;
      const update = combine(result.weights, jacobian);
      for (const g of jacobian) {
        expect(dot(update, g), `trial ${trial}`).toBeGreaterThanOrEqual(-1e-6 * norm(update) * norm(g));
      }
    }
    expect(conflicting).toBeGreaterThan(200);
    expect(conflicting).toBeLessThan(800);
  });

  it('gives one finite weight per task on 1000 random Jacobians of 3–10 tasks, rank-deficient and zero rows included', () => {
    const rng = Rng.fromSeed(11);
    const plugin = pcgrad();
    for (let trial = 0; trial < 1000; trial++) {
      const count = 3 + rng.int(8);
      const jacobian = randomJacobian(rng, trial, count); // all zero when trial % 50 === 0
      const weights = weigh(plugin, gramianOf(jacobian), plugin.init({ taskNames: taskNamesFor(count), seed: trial })).weights;
      expect(weights).toHaveLength(count);
      expect(weights.every(Number.isFinite), `trial ${trial}: ${weights.join(', ')}`).toBe(true);
      if (trial % 50 === 0) expect(weights).toEqual(new Array<number>(count).fill(1));
    }
  });

  it('the update is Σ_i g_i^pc for some order of the other tasks per task (explicit-vector reference, 3 and 4 tasks)', () => {
    const rng = Rng.fromSeed(3);
    for (let trial = 0; trial < 60; trial++) {
      const count = trial % 2 === 0 ? 3 : 4;
      const columns = 2 + rng.int(4);
      // Integer entries keep G exact in float32.
      const jacobian = Array.from({ length: count }, () => Array.from({ length: columns }, () => rng.int(7) - 3));
      const weights = weightsOf(gramianOf(jacobian), {}, trial);
      const update = combine(weights, jacobian);
      // Every candidate g_i^pc for every order of the others, then every sum of one candidate per task.
      const candidates = jacobian.map((_, i) =>
        permutations(jacobian.map((__, j) => j).filter((j) => j !== i)).map((order) => projectExplicitly(jacobian, i, order)),
      );
      let sums: number[][] = [new Array<number>(columns).fill(0)];
      for (const options of candidates) sums = sums.flatMap((sum) => options.map((g) => sum.map((x, k) => x + g[k]!)));
      const scale = Math.max(1, ...jacobian.flat().map(Math.abs));
      const closest = Math.min(...sums.map((sum) => Math.max(...sum.map((x, k) => Math.abs(x - update[k]!)))));
      expect(closest, `trial ${trial}`).toBeLessThan(1e-5 * scale * count);
    }
  });

  it('same seed gives the same weights sequence; another seed another one', () => {
    const gramian = [
      [1.25, -1, -0.5],
      [-1, 1, 1],
      [-0.5, 1, 2],
    ];
    const run = (seed: number) => {
      const plugin = pcgrad();
      let state = plugin.init({ taskNames: ['a', 'b', 'c'], seed });
      const sequence: number[][] = [];
      for (let call = 0; call < 8; call++) {
        const result = weigh(plugin, gramian, state);
        sequence.push(result.weights);
        state = result.state;
      }
      return sequence;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    // The state changes between calls (a fresh order each step) and survives JSON.
    const plugin = pcgrad();
    const initial = plugin.init({ taskNames: ['a', 'b', 'c'], seed: 5 });
    const next = weigh(plugin, gramian, initial).state;
    expect(next).not.toEqual(initial);
    expect(JSON.parse(JSON.stringify(next))).toEqual(next);
  });

  it('is invariant to scaling G', () => {
    const rng = Rng.fromSeed(19);
    for (let trial = 0; trial < 50; trial++) {
      const jacobian = Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => rng.normal()));
      const gramian = gramianOf(jacobian);
      const base = weightsOf(gramian, {}, trial);
      for (const c of [1e-3, 10, 1e4]) expectClose(weightsOf(gramian.map((row) => row.map((v) => v * c)), {}, trial), base, 4);
    }
  });

  it('conforms (testkit), claiming scale invariance of the weights', async () => {
    // Not permutationInvariant for T ≥ 3 (the order drawn for a task depends on its index) and
    // not nonConflicting for T ≥ 3; both hold for two tasks, checked below.
    const report = await checkWeighting(pcgrad(), { properties: { scaleInvariantWeights: true } });
    expect(report.sites).toEqual(['shared', 'features']);
    await checkWeighting(pcgrad({ reduction: 'mean' }), { properties: { scaleInvariantWeights: true } });
  });

  it('is permutation-invariant and non-conflicting for two tasks (testkit, 1–2 tasks)', async () => {
    await checkWeighting(pcgrad(), { taskCounts: [1, 2], properties: { permutationInvariant: true, nonConflicting: true, scaleInvariantWeights: true } });
  });
});

describe('pcgrad: options', () => {
  it('refuses unknown options and bad reductions, naming them', () => {
    const unknown = thrownBy(() => pcgrad({ reducton: 'mean' } as never));
    expect(isMtlError(unknown, 'BAD_CONFIG')).toBe(true);
    expect((unknown as Error).message).toContain("'reducton'");
    const bad = thrownBy(() => pcgrad({ reduction: 'avg' } as never));
    expect(isMtlError(bad, 'BAD_CONFIG')).toBe(true);
    expect((bad as Error).message).toContain("'reduction'");
    expect(pcgrad().configure!({ reduction: 'mean' }).name).toBe('pcgrad');
  });
});

describe('pcgrad in the trainer', () => {
  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), pcgrad());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry', () => {
    const registry = createRegistry();
    registry.register(pcgrad());
    withSmallModel(hardSharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'pcgrad', registry, seed: 2 });
      const report = trainer.step(batch);
      expect(Object.keys(report.weights)).toEqual(['left', 'right']);
      expect(Object.values(report.weights).every(Number.isFinite)).toBe(true);
      trainer.dispose();

      const mean = new Trainer({ model, weighting: { name: 'pcgrad', options: { reduction: 'mean' } }, registry, seed: 2 });
      const meanReport = mean.step(batch);
      expect(Object.values(meanReport.weights).every((w) => w > 0 && w <= 1.5)).toBe(true);
      mean.dispose();

      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'pcgrad', options: { reducton: 1 } }, registry }));
      expect(isMtlError(error)).toBe(true);
      expect((error as Error).message).toContain('reducton');
    });
  });

  it('is no worse than 1.1 × equal weighting on synthetic tasks (site shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: pcgrad(), site: 'shared', data, epochs: 4, seed: 42 });
    console.log('pcgrad vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  }, 60_000);
});
