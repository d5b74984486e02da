import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, LEFT_RIGHT_TASKS, stepInfoFor, taskNamesFor, thrownBy, trainerSmokeCheck, withSmallModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { drawUniforms, dropOnDevice, dropOnHost, graddrop, type GradDropOptions, type GradDropState } from './graddrop';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------------------------------------

type Matrix = number[][];

/** Calls aggregate as the engine does: J and the losses as tensors it owns and disposes. */
function aggregate(plugin: ReturnType<typeof graddrop>, jacobian: Matrix, state: GradDropState) {
  const count = jacobian.length;
  const j = tf.tensor2d(jacobian, [count, jacobian[0]!.length]);
  const losses = tf.ones([count]) as tf.Tensor1D;
  try {
    const result = plugin.aggregate(j as tf.Tensor2D, losses, state, stepInfoFor(count, { site: 'features' }));
    const update = Array.from(result.update.dataSync());
    result.update.dispose();
    expect(result.weights).toBeUndefined();
    return { update, state: result.state };
  } finally {
    j.dispose();
    losses.dispose();
  }
}

/** The documented draws of a step, reproduced from the state: U_k = ⌊x_k / 2⁸⌋ / 2²⁴, x_k the RNG's 32-bit outputs. */
function uniformsOf(state: GradDropState, count: number): number[] {
  const rng = Rng.fromState(state.rng);
  return Array.from({ length: count }, () => Math.floor(rng.nextUint32() / 256) / 2 ** 24);
}

const stateFor = (seed: number, count = 2) => graddrop().init({ taskNames: taskNamesFor(count), seed });

/** Σ_i max(J_ik, 0) and Σ_i min(J_ik, 0) per column. */
const positiveSums = (jacobian: Matrix) => jacobian[0]!.map((_, k) => jacobian.reduce((sum, row) => sum + Math.max(row[k]!, 0), 0));
const negativeSums = (jacobian: Matrix) => jacobian[0]!.map((_, k) => jacobian.reduce((sum, row) => sum + Math.min(row[k]!, 0), 0));

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, k) => expect(value, `entry ${k}: ${actual.join(', ')} vs ${expected.join(', ')}`).toBeCloseTo(expected[k]!, digits));
};

// ---------------------------------------------------------------------------------------------

describe('graddrop: hand-computed case J = [[1, −2, 0], [3, 1, 0]]', () => {
  // Column 0: entries 1, 3:  P = ½(1 + 4/4) = 1     → U < 1 always: keep the positives, 1 + 3 = 4.
  // Column 1: entries −2, 1: P = ½(1 + (−1)/3) = ⅓  → U < ⅓: keep the positive 1; else the negative −2.
  // Column 2: entries 0, 0:  P = ½ (no gradient)    → nothing to keep either way: 0.
  const jacobian = [
    [1, -2, 0],
    [3, 1, 0],
  ];
  // Seeds whose second draw is below ⅓ and above it, found by reproducing the draws.
  const seeds = Array.from({ length: 50 }, (_, seed) => seed);
  const lowSeed = seeds.find((seed) => uniformsOf(stateFor(seed), 3)[1]! < 1 / 3)!;
  const highSeed = seeds.find((seed) => uniformsOf(stateFor(seed), 3)[1]! >= 1 / 3)!;

  it('U_1 < ⅓ keeps the positive entry of column 1: update (4, 1, 0); otherwise the negative one: (4, −2, 0)', () => {
    expect(lowSeed).toBeDefined();
    expect(highSeed).toBeDefined();
    expectClose(aggregate(graddrop(), jacobian, stateFor(lowSeed)).update, [4, 1, 0], 6);
    expectClose(aggregate(graddrop(), jacobian, stateFor(highSeed)).update, [4, -2, 0], 6);
  });

  it('leakage: update = Σ_i (ℓ_i + (1 − ℓ_i) M_i) J_i', () => {
    // ℓ = (0.25, 0). U_1 < ⅓ (M = [[1,0,0],[1,1,0]]): column 1 = (0.25 + 0.75·0)(−2) + 1·1 = 0.5.
    //                U_1 ≥ ⅓ (M = [[1,1,0],[1,0,0]]): column 1 = 1·(−2) + (0 + 1·0)·1 = −2.
    const perTask: GradDropOptions = { leakage: { task0: 0.25 } };
    const plugin = graddrop(perTask);
    const init = (seed: number) => plugin.init({ taskNames: taskNamesFor(2), seed });
    expectClose(aggregate(plugin, jacobian, init(lowSeed)).update, [4, 0.5, 0], 6);
    expectClose(aggregate(plugin, jacobian, init(highSeed)).update, [4, -2, 0], 6);
    // ℓ = 0.5 for both: column 1 = 0.5·(−2) + 1 = 0 (U_1 < ⅓) or −2 + 0.5·1 = −1.5 (U_1 ≥ ⅓).
    expectClose(aggregate(graddrop({ leakage: 0.5 }), jacobian, stateFor(lowSeed)).update, [4, 0, 0], 6);
    expectClose(aggregate(graddrop({ leakage: 0.5 }), jacobian, stateFor(highSeed)).update, [4, -1.5, 0], 6);
    // ℓ = 1: nothing is dropped, the plain sum (4, −1, 0).
    expectClose(aggregate(graddrop({ leakage: 1 }), jacobian, stateFor(lowSeed)).update, [4, -1, 0], 6);
  });

  it('in expectation, each column gives P·Σ⁺ + (1 − P)·Σ⁻ (3000 independent columns of each kind)', () => {
    // Column 1 repeated: E = ⅓·1 + ⅔·(−2) = −1, one draw has variance ⅓·4 + ⅔·1 − 1 = 1, so the mean of
    // 3000 has standard error ≈ 0.018.
    const repeats = 3000;
    const wide = jacobian.map((row) => Array.from({ length: 3 * repeats }, (_, k) => row[k % 3]!));
    const { update } = aggregate(graddrop(), wide, stateFor(7));
    const meanOf = (column: number) => update.filter((_, k) => k % 3 === column).reduce((a, b) => a + b, 0) / repeats;
    expect(meanOf(0)).toBeCloseTo(4, 6);
    expect(Math.abs(meanOf(1) - -1)).toBeLessThan(0.08);
    expect(meanOf(2)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

// Kept local: GradDrop reads J's signs, so rows with scattered zeros, float32 entries and a set column count matter here.
function randomJacobian(rng: Rng, count: number, columns: number): Matrix {
  const jacobian: Matrix = [];
  for (let t = 0; t < count; t++) {
    const kind = t === 0 ? 0 : rng.int(5);
    const scale = 10 ** rng.uniform(-6, 6);
    if (kind <= 1) jacobian.push(Array.from({ length: columns }, () => rng.normal(0, scale)));
    else if (kind === 2) jacobian.push(jacobian[rng.int(t)]!.map((x) => -x * rng.uniform(0.1, 2)));
    else if (kind === 3) jacobian.push(Array.from({ length: columns }, () => (rng.next() < 0.5 ? 0 : rng.normal(0, scale))));
    else jacobian.push(new Array<number>(columns).fill(0));
  }
  return jacobian.map((row) => row.map(Math.fround));
}

describe('graddrop: properties on random Jacobians', () => {
  it('1000 random Jacobians (2–10 tasks, scaled 1e-6…1e6, opposed and zero rows): finite; each coordinate is the sum of one sign; zero J gives zero', () => {
    const rng = Rng.fromSeed(13);
    const plugin = graddrop();
    let state = plugin.init({ taskNames: taskNamesFor(10), seed: 13 });
    for (let trial = 0; trial < 1000; trial++) {
      const count = 2 + rng.int(9);
      const columns = 1 + rng.int(16);
      const jacobian = randomJacobian(rng, count, columns);
      const zero = trial % 50 === 0;
      if (zero) jacobian.forEach((row) => row.fill(0));
      const result = aggregate(plugin, jacobian, state);
      state = result.state;
      const positives = positiveSums(jacobian);
      const negatives = negativeSums(jacobian);
      result.update.forEach((value, k) => {
        expect(Number.isFinite(value), `trial ${trial}`).toBe(true);
        // The kept entries share one sign: the update is the sum of the column's positive entries or of its negative ones.
        const tolerance = 1e-5 * Math.max(positives[k]!, -negatives[k]!);
        const isPositiveSum = Math.abs(value - positives[k]!) <= tolerance;
        const isNegativeSum = Math.abs(value - negatives[k]!) <= tolerance;
        expect(isPositiveSum || isNegativeSum, `trial ${trial}, column ${k}: ${value} vs ${positives[k]} / ${negatives[k]}`).toBe(true);
        // A column whose entries agree in sign passes whole.
        if (negatives[k] === 0) expect(isPositiveSum).toBe(true);
        if (positives[k] === 0) expect(isNegativeSum).toBe(true);
      });
      if (zero) expect(result.update.every((v) => v === 0)).toBe(true);
    }
  });

  // On wasm and cpu (these tests' backend) aggregate takes the host loop; WebGL and WebGPU take the
  // kernels. Both must give one update for the same J and draws.
  it('the host loop and the device kernels agree on 300 random Jacobians, with and without leaks, and draw the same uniforms', () => {
    const rng = Rng.fromSeed(21);
    let mismatched = 0;
    let compared = 0;
    for (let trial = 0; trial < 300; trial++) {
      const count = 1 + rng.int(8);
      const columns = 1 + rng.int(40);
      const jacobian = randomJacobian(rng, count, columns);
      if (trial % 7 === 0) jacobian[0]!.fill(0);
      const leaks = trial % 2 === 0 ? jacobian.map(() => 0) : jacobian.map(() => rng.next());
      const draws = Rng.fromSeed(trial);
      const hostRng = Rng.fromState(draws.state());
      const j = tf.tensor2d(jacobian, [count, columns]);
      const host = dropOnHost(j.dataSync() as Float32Array, count, hostRng, leaks);
      const device = dropOnDevice(j as tf.Tensor2D, drawUniforms(draws, columns), leaks);
      expect(hostRng.state()).toEqual(draws.state());
      const values = device.dataSync();
      values.forEach((d, k) => {
        compared++;
        const scale = jacobian.reduce((sum, row) => sum + Math.abs(row[k]!), 0);
        // Float32 sums on the device, float64 on the host: a purity within rounding of its uniform
        // may fall either side; anything else must match to rounding.
        if (Math.abs(d - host[k]!) > 1e-5 * scale + 1e-30) mismatched++;
      });
      tf.dispose([j, device]);
    }
    expect(mismatched).toBeLessThanOrEqual(2);
    expect(compared).toBeGreaterThan(3000);
  });

  it('a NaN in J reaches its coordinate of the update on the host, as on the device', () => {
    for (const seed of [1, 2, 3, 4]) {
      const update = dropOnHost(new Float32Array([1, Number.NaN, -2, 3, 1, 0]), 2, Rng.fromSeed(seed), [0, 0]);
      expect(Number.isNaN(update[1]!)).toBe(true);
      expect(Number.isFinite(update[0]!) && Number.isFinite(update[2]!)).toBe(true);
    }
  });

  it('one task: its gradient passes unchanged (every column is unanimous)', () => {
    const rng = Rng.fromSeed(2);
    const row = Array.from({ length: 50 }, () => Math.fround(rng.normal()));
    expectClose(aggregate(graddrop(), [row], stateFor(3, 1)).update, row, 6);
  });

  it('seeded: the same seed repeats the run, another seed changes it; each step advances the RNG by P draws', () => {
    const rng = Rng.fromSeed(4);
    const jacobians = Array.from({ length: 5 }, () => randomJacobian(rng, 3, 40));
    const run = (seed: number) => {
      const plugin = graddrop();
      let state = plugin.init({ taskNames: taskNamesFor(3), seed });
      return jacobians.map((jacobian) => {
        const before = Rng.fromState(state.rng);
        const result = aggregate(plugin, jacobian, state);
        for (let k = 0; k < 40; k++) before.nextUint32();
        expect(result.state.rng).toEqual(before.state());
        state = result.state;
        return result.update;
      });
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  it('conforms (testkit), claiming permutation invariance, scale invariance (the update scales with J) and seed dependence', async () => {
    const report = await checkWeighting(graddrop(), { properties: { permutationInvariant: true, scaleInvariantWeights: true, seedDependent: true } });
    expect(report.sites).toEqual(['features', 'shared']);
    await checkWeighting(graddrop({ leakage: 0.3 }), { properties: { permutationInvariant: true, scaleInvariantWeights: true, seedDependent: true } });
  });
});

// ---------------------------------------------------------------------------------------------

describe('graddrop: options', () => {
  it('refuses unknown options and bad leaks, naming the option', () => {
    const cases: GradDropOptions[] = [{ leak: 0.1 } as never, { leakage: 2 }, { leakage: -0.1 }, { leakage: { a: 1.5 } }, { leakage: [0.1] } as never, { leakage: 'x' } as never];
    for (const options of cases) {
      const error = thrownBy(() => graddrop(options));
      expect(isMtlError(error, 'BAD_CONFIG'), JSON.stringify(options)).toBe(true);
      expect((error as Error).message).toContain('leak' in options ? "'leak'" : "'leakage'");
    }
    const unknownTask = thrownBy(() => graddrop({ leakage: { nope: 0.5 } }).init({ taskNames: ['a'], seed: 0 }));
    expect(isMtlError(unknownTask, 'BAD_CONFIG')).toBe(true);
    expect((unknownTask as Error).message).toContain("'nope'");
    expect(graddrop().configure!({ leakage: 0.2 }).name).toBe('graddrop');
  });
});

describe('graddrop in the trainer', () => {
  it('trains at both sites (features, shared) without leaking tensors (trainerSmokeCheck)', async () => {
    const report = await trainerSmokeCheck(hardSharing(), graddrop());
    expect(report.runs.map((run) => run.site)).toEqual(['features', 'shared']);
    await trainerSmokeCheck(hardSharing(), graddrop({ leakage: 0.2 }));
  });

  it('is configured by name through a registry; reports no weights (NaN); a misspelt option is refused by name', () => {
    const registry = createRegistry();
    registry.register(graddrop());
    withSmallModel(hardSharing(), LEFT_RIGHT_TASKS, (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'graddrop', registry, seed: 2 });
      expect(trainer.engine.site).toBe('features');
      const report = trainer.step(batch);
      expect(Object.values(report.weights).every(Number.isNaN)).toBe(true);
      expect(Number.isFinite(report.loss)).toBe(true);
      trainer.dispose();
      const shared = new Trainer({ model, weighting: { name: 'graddrop', options: { leakage: { left: 0.5 } } }, site: 'shared', registry, seed: 2 });
      expect(Number.isFinite(shared.step(batch).loss)).toBe(true);
      shared.dispose();

      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'graddrop', options: { leakeage: 1 } }, registry }));
      expect(isMtlError(error)).toBe(true);
      expect((error as Error).message).toContain('leakeage');
    });
  });

  it('benchmark against equal weighting on synthetic tasks (default site, features)', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 });
    const r = await compareWithEqualWeighting({ strategy: hardSharing(), weighting: graddrop(), data, epochs: 4, seed: 42 });
    console.log('graddrop vs EW:', JSON.stringify(r));
    expect(Number.isFinite(r.ratio)).toBe(true);
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  }, 60_000);
});
