import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, gramianOf, LEFT_RIGHT_TASKS, randomJacobian, REFERENCE_JACOBIANS, stepInfoFor, taskNamesFor, thrownBy, trainerSmokeCheck, weighGramian, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { gradvac, gradvacStep, type GradVacOptions, type GradVacState } from './gradvac';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------
// Plain vector arithmetic written for the tests, independent of the plugin.

type Matrix = number[][];
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, k) => sum + x * b[k]!, 0);
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
const cosine = (a: readonly number[], b: readonly number[]) => dot(a, b) / (norm(a) * norm(b));
/** u = wᵀJ = Σ_t w_t g_t. */
const combine = (weights: readonly number[], jacobian: Matrix) =>
  jacobian[0]!.map((_, column) => weights.reduce((sum, w, t) => sum + w * jacobian[t]![column]!, 0));

/** Calls weigh as the engine does: G (float32) and the losses as tensors it owns and disposes. */
const weigh = (plugin: ReturnType<typeof gradvac>, gramian: Matrix, state: GradVacState, names = taskNamesFor(gramian.length), active?: number[]) =>
  weighGramian(plugin, gramian, { state, info: stepInfoFor(names, { active }) });

/** A state with the given targets (all tasks) and the RNG of `seed`. */
function stateWith(targets: Matrix, seed = 0, options: GradVacOptions = {}): GradVacState {
  const plugin = gradvac(options);
  return { ...plugin.init({ taskNames: taskNamesFor(targets.length), seed }), targets };
}

/** GradVac for one task i and one order of the others, on explicit vectors (Section 3.2 of the paper). */
function vaccinateExplicitly(jacobian: Matrix, targets: Matrix, i: number, order: readonly number[], observed: number[] = []): number[] {
  let g = [...jacobian[i]!];
  for (const j of order) {
    const gj = jacobian[j]!;
    const phi = cosine(g, gj);
    observed[j] = phi;
    const target = targets[i]![j]!;
    if (phi < target) {
      const factor = (norm(g) * (target * Math.sqrt(1 - phi * phi) - phi * Math.sqrt(1 - target * target))) / (norm(gj) * Math.sqrt(1 - target * target));
      g = g.map((x, k) => x + factor * gj[k]!);
    }
  }
  return g;
}

function permutations(items: number[]): number[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, k) => permutations([...items.slice(0, k), ...items.slice(k + 1)]).map((rest) => [item, ...rest]));
}

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

const { J1, J2, J3 } = REFERENCE_JACOBIANS;

// ---------------------------------------------------------------------------------------------

describe('gradvac: hand-computed cases', () => {
  it('two tasks, target φ̂ = 0.5 for both pairs, β = 0.1: the correction and the EMA step', () => {
    // J1: g1 = (−4,1,1), g2 = (6,1,1); ‖g1‖ = √18, ‖g2‖ = √38, φ = cos(g1, g2) = −22/√684 ≈ −0.84119.
    // With two tasks each task has one other to visit, so the order is fixed.
    // g1 += a·g2 with a = √18 (0.5·√(1 − φ²) − φ·√(1 − 0.25)) / (√38 · √0.75) ≈ 0.79381
    // g2 += b·g1 with b = √38 (0.5·√(1 − φ²) − φ·√(1 − 0.25)) / (√18 · √0.75) ≈ 1.67583
    // weights = [1 + b, 1 + a]; both targets become 0.9·0.5 + 0.1·φ ≈ 0.36588.
    const phi = -22 / Math.sqrt(684);
    const bracket = 0.5 * Math.sqrt(1 - phi * phi) - phi * Math.sqrt(0.75);
    const a = (Math.sqrt(18) * bracket) / (Math.sqrt(38) * Math.sqrt(0.75));
    const b = (Math.sqrt(38) * bracket) / (Math.sqrt(18) * Math.sqrt(0.75));
    expect(a).toBeCloseTo(0.79381, 4);
    expect(b).toBeCloseTo(1.67583, 4);
    // The corrected gradients have exactly the target cosine with the other task's gradient.
    expect(cosine(combine([1, a], J1), J1[1]!)).toBeCloseTo(0.5, 12);
    expect(cosine(combine([b, 1], J1), J1[0]!)).toBeCloseTo(0.5, 12);

    const plugin = gradvac({ beta: 0.1 });
    const targets = [
      [0, 0.5],
      [0.5, 0],
    ];
    const result = weigh(plugin, gramianOf(J1), stateWith(targets));
    expectClose(result.weights, [1 + b, 1 + a], 5);
    expectClose(result.state.targets.flat(), [0, 0.9 * 0.5 + 0.1 * phi, 0.9 * 0.5 + 0.1 * phi, 0], 6);
    // The state passed in is not mutated.
    expect(targets).toEqual([
      [0, 0.5],
      [0.5, 0],
    ]);
  });

  it('from init (targets 0) the first step is PCGrad, and the targets move to β·φ', () => {
    // φ̂ = 0: a = −‖g1‖φ/‖g2‖ = −⟨g1,g2⟩/‖g2‖² = 22/38, b = 22/18 (the PCGrad projections).
    const plugin = gradvac();
    const state = plugin.init({ taskNames: ['a', 'b'], seed: 3 });
    const result = weigh(plugin, gramianOf(J1), state, ['a', 'b']);
    expectClose(result.weights, [1 + 22 / 18, 1 + 22 / 38], 5);
    const phi = -22 / Math.sqrt(684);
    expectClose(result.state.targets.flat(), [0, 0.01 * phi, 0.01 * phi, 0], 7);
  });

  it('the EMA over steps: with a fixed G and two tasks, φ̂ after k steps is (1 − (1 − β)^k)·φ', () => {
    const plugin = gradvac({ beta: 0.1 });
    let state = plugin.init({ taskNames: ['a', 'b'], seed: 0 });
    const phi = -22 / Math.sqrt(684);
    for (let k = 1; k <= 5; k++) {
      state = weigh(plugin, gramianOf(J1), state, ['a', 'b']).state;
      expect(state.targets[0]![1]).toBeCloseTo((1 - 0.9 ** k) * phi, 6);
      expect(state.targets[1]![0]).toBeCloseTo((1 - 0.9 ** k) * phi, 6);
    }
    // φ < φ̂ < 0: the correction raises the cosine to φ̂ only, not to orthogonality.
    const target = state.targets[0]![1]!;
    const weights = weigh(plugin, gramianOf(J1), state, ['a', 'b']).weights;
    const bracket = target * Math.sqrt(1 - phi * phi) - phi * Math.sqrt(1 - target * target);
    const a = (Math.sqrt(18) * bracket) / (Math.sqrt(38) * Math.sqrt(1 - target * target));
    expect(weights[1]).toBeCloseTo(1 + a, 5);
    expect(cosine(combine([1, a], J1), J1[1]!)).toBeCloseTo(target, 10);
  });

  it('J2 (orthogonal, φ = 0): nothing changes while φ̂ ≤ 0; with φ̂ = 0.6 each gradient gains 0.75 of the other', () => {
    const plugin = gradvac();
    expectClose(weigh(plugin, gramianOf(J2), plugin.init({ taskNames: ['a', 'b'], seed: 0 }), ['a', 'b']).weights, [1, 1], 12);
    // φ = 0, φ̂ = 0.6: a = 1·(0.6·1 − 0)/(1·0.8) = 0.75, and cos((1, 0.75), (0, 1)) = 0.75/1.25 = 0.6.
    const result = weigh(plugin, gramianOf(J2), stateWith([
      [0, 0.6],
      [0.6, 0],
    ]));
    expectClose(result.weights, [1.75, 1.75], 6);
    expectClose(result.state.targets.flat(), [0, 0.99 * 0.6, 0.99 * 0.6, 0], 6);
  });

  it('J3 with targets: the update is Σ_i g_i^vac for some visiting order per task (explicit vectors), and the targets follow', () => {
    const targets = [
      [0, 0.3, -0.2],
      [0.1, 0, 0.4],
      [0.5, 0.2, 0],
    ];
    const candidates = J3.map((_, i) =>
      permutations([0, 1, 2].filter((j) => j !== i)).map((order) => {
        const observed: number[] = [];
        return { order, vector: vaccinateExplicitly(J3, targets, i, order, observed), observed };
      }),
    );
    const seen = new Set<string>();
    for (let seed = 0; seed < 30; seed++) {
      const plugin = gradvac({ beta: 0.5 });
      const result = weigh(plugin, gramianOf(J3), stateWith(targets, seed));
      const update = combine(result.weights, J3);
      // The orders whose explicit update matches, and among them one whose observed cosines explain
      // the new targets: each moved halfway (β = 0.5) to the cosine observed at its visit. (Two orders
      // can give the same vector when the first visit changes nothing; their cosines still differ.)
      const matches = candidates[0]!
        .flatMap((x) => candidates[1]!.flatMap((y) => candidates[2]!.map((z) => [x, y, z])))
        .filter((chosen) => {
          const sum = chosen[0]!.vector.map((v, k) => v + chosen[1]!.vector[k]! + chosen[2]!.vector[k]!);
          return Math.max(...sum.map((v, k) => Math.abs(v - update[k]!))) < 1e-4;
        });
      expect(matches.length, `seed ${seed}: update ${update.join(', ')}`).toBeGreaterThan(0);
      const explained = matches.filter((chosen) =>
        [0, 1, 2].every((i) =>
          [0, 1, 2].every((j) => i === j || Math.abs(result.state.targets[i]![j]! - (0.5 * targets[i]![j]! + 0.5 * chosen[i]!.observed[j]!)) < 1e-5),
        ),
      );
      expect(explained.length, `seed ${seed}: targets ${JSON.stringify(result.state.targets)}`).toBeGreaterThan(0);
      seen.add(explained[0]!.map((c) => c.order.join('')).join(','));
    }
    expect(seen.size).toBeGreaterThan(1);
  });
});

describe('gradvac: state', () => {
  it('keeps one target per ordered pair of ALL tasks; only the active pairs move', () => {
    const plugin = gradvac({ beta: 0.5 });
    const names = ['a', 'b', 'c'];
    const initial = plugin.init({ taskNames: names, seed: 1 });
    expect(initial.targets).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    // Tasks a and c active, with the gradients of J1: their pair moves to 0.5·φ, everything involving b stays 0.
    const result = weigh(plugin, gramianOf(J1), initial, names, [0, 2]);
    const phi = -22 / Math.sqrt(684);
    expectClose(result.state.targets.flat(), [0, 0, 0.5 * phi, 0, 0, 0, 0.5 * phi, 0, 0], 6);
    expect(initial.targets.flat().every((v) => v === 0)).toBe(true);
    expect(JSON.parse(JSON.stringify(result.state))).toEqual(result.state);
  });

  it('the same seed gives the same sequence of weights; another seed another one', () => {
    const gramian = gramianOf(J3);
    const run = (seed: number) => {
      const plugin = gradvac({ beta: 0.3 });
      let state = stateWith(
        [
          [0, 0.3, -0.2],
          [0.1, 0, 0.4],
          [0.5, 0.2, 0],
        ],
        seed,
      );
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
  });

  it('refuses a state whose targets do not match the tasks', () => {
    const plugin = gradvac();
    const error = thrownBy(() => weigh(plugin, gramianOf(J1), { ...plugin.init({ taskNames: ['a', 'b'], seed: 0 }), targets: [[0]] }, ['a', 'b']));
    expect(isMtlError(error, 'BAD_CHECKPOINT')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe('gradvac: properties on random Jacobians', () => {
  it('1000 random Jacobians (2–10 tasks, rank-deficient, nearly parallel, scaled 1e-6…1e6, zero), threading the state: finite weights and targets in [−1, 1]; zero J gives a zero update', () => {
    const rng = Rng.fromSeed(17);
    const plugin = gradvac({ beta: 0.2 });
    const names = taskNamesFor(10);
    let state = plugin.init({ taskNames: names, seed: 17 });
    for (let trial = 0; trial < 1000; trial++) {
      const jacobian = randomJacobian(rng, trial);
      const count = jacobian.length;
      const zero = trial % 50 === 0; // randomJacobian's all-zero trials
      const active = rng.permutation(10).slice(0, count).sort((x, y) => x - y);
      const result = weigh(plugin, gramianOf(jacobian), state, names, active);
      state = result.state;
      expect(result.weights.every(Number.isFinite), `trial ${trial}: ${result.weights.join(', ')}`).toBe(true);
      expect(state.targets.flat().every((v) => Number.isFinite(v) && Math.abs(v) <= 1), `trial ${trial}`).toBe(true);
      if (zero) {
        expect(result.weights).toEqual(new Array(count).fill(1));
        expect(combine(result.weights, jacobian).every((x) => x === 0)).toBe(true);
      }
    }
  });

  it('the weights do not depend on the scale of G (cosines and norm ratios only)', () => {
    const rng = Rng.fromSeed(23);
    for (let trial = 0; trial < 100; trial++) {
      const count = 2 + rng.int(5);
      const jacobian = Array.from({ length: count }, () => Array.from({ length: 6 }, () => rng.normal()));
      const targets = Array.from({ length: count }, (_, i) => Array.from({ length: count }, (__, j) => (i === j ? 0 : rng.uniform(-0.5, 0.8))));
      const gramian = gramianOf(jacobian);
      const base = gradvacStep(gramian, targets, Array.from({ length: count }, (_, i) => [...Array(count).keys()].filter((j) => j !== i)), 0.1);
      for (const c2 of [1e-6, 16, 1e8]) {
        const scaled = gradvacStep(
          gramian.map((row) => row.map((v) => v * c2)),
          targets,
          Array.from({ length: count }, (_, i) => [...Array(count).keys()].filter((j) => j !== i)),
          0.1,
        );
        expectClose(scaled.weights, base.weights, 8);
        expectClose(scaled.targets.flat(), base.targets.flat(), 10);
      }
    }
  });

  it('conforms (testkit), claiming scale invariance of the weights and dependence on the seed', async () => {
    const report = await checkWeighting(gradvac(), { properties: { scaleInvariantWeights: true, seedDependent: true } });
    expect(report.sites).toEqual(['shared', 'features']);
    await checkWeighting(gradvac({ reduction: 'mean', beta: 0.5 }), { properties: { scaleInvariantWeights: true } });
  });

  it('is permutation-invariant for one and two tasks (testkit)', async () => {
    // For T ≥ 3 the order drawn for a task depends on its position, as in PCGrad.
    await checkWeighting(gradvac(), { taskCounts: [1, 2], properties: { permutationInvariant: true, scaleInvariantWeights: true } });
  });
});

// ---------------------------------------------------------------------------------------------

describe('gradvac: options', () => {
  it('refuses unknown options and bad values, naming the option', () => {
    const cases: [GradVacOptions, string][] = [
      [{ betta: 0.1 } as never, "'betta'"],
      [{ beta: 2 }, "'beta'"],
      [{ beta: Number.NaN }, "'beta'"],
      [{ reduction: 'avg' } as never, "'reduction'"],
    ];
    for (const [options, named] of cases) {
      const error = thrownBy(() => gradvac(options));
      expect(isMtlError(error, 'BAD_CONFIG'), JSON.stringify(options)).toBe(true);
      expect((error as Error).message).toContain(named);
    }
    expect(gradvac().configure!({ beta: 0.5 }).name).toBe('gradvac');
  });

  it("'mean' divides the summed weights by the number of active tasks", () => {
    const plugin = gradvac({ reduction: 'mean' });
    const result = weigh(plugin, gramianOf(J1), plugin.init({ taskNames: ['a', 'b'], seed: 0 }), ['a', 'b']);
    expectClose(result.weights, [(1 + 22 / 18) / 2, (1 + 22 / 38) / 2], 5);
  });
});

describe('gradvac in the trainer', () => {
  it('trains at both sites without leaking (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), gradvac());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features']);
  });

  it('is configured by name through a registry; a misspelt option is refused by name; the state is the EMA', () => {
    const registry = createRegistry();
    registry.register(gradvac());
    withSmallModel(hardSharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      const trainer = new Trainer({ model, weighting: { name: 'gradvac', options: { beta: 0.5 } }, registry, seed: 2 });
      for (let step = 0; step < 3; step++) {
        const report = trainer.step(batch);
        expect(Object.keys(report.weights)).toEqual(['left', 'right']);
        expect(Object.values(report.weights).every(Number.isFinite)).toBe(true);
      }
      const state = trainer.engine.weightingState as GradVacState;
      expect(state.targets[0]![1]).not.toBe(0);
      trainer.dispose();
      const byName = new Trainer({ model, weighting: 'gradvac', site: 'features', registry, seed: 2 });
      expect(Object.values(byName.step(batch).weights).every(Number.isFinite)).toBe(true);
      byName.dispose();

      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'gradvac', options: { betta: 1 } }, registry }));
      expect(isMtlError(error)).toBe(true);
      expect((error as Error).message).toContain('betta');
    });
  });

  it('benchmark against equal weighting on synthetic tasks (default site, shared)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: gradvac(), data, epochs: 4, seed: 42 });
    console.log('gradvac vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  }, 60_000);
});
