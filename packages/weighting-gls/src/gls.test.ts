import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError, Rng, Trainer, type LossStepInfo } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, compareWithEqualWeighting, lossStepInfoFor, thrownBy, trainerSmokeCheck, withTinyModel } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { gls, type GlsOptions } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** One combine call as the engine makes it (inside a tidy); numbers out. */
function combineOnce(losses: number[], info: LossStepInfo = lossStepInfoFor(losses.length)) {
  let out: { loss: number; weights: number[] } | undefined;
  tf.tidy(() => {
    const result = gls().combine(tf.tensor1d(losses), null, info);
    out = { loss: result.loss.dataSync()[0]!, weights: [...(result.weights as number[])] };
  });
  return out!;
}

/** ∂GLS/∂L_t by tfjs autodiff. */
function lossGradient(losses: number[], info: LossStepInfo = lossStepInfoFor(losses.length)): number[] {
  return tf.tidy(() => Array.from(tf.grad((l: tf.Tensor) => gls().combine(l as tf.Tensor1D, null, info).loss)(tf.tensor1d(losses)).dataSync()));
}

const expectClose = (actual: readonly number[], expected: readonly number[], digits = 5) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, digits));
};

describe('GLS: hand computations', () => {
  it('losses (2, 0.5, 4): GLS = 4^{1/3}, ∂GLS/∂L_t = GLS/(3 L_t)', () => {
    // Π L = 2·0.5·4 = 4 → GLS = 4^{1/3} = 1.5874011;
    // weights GLS/(3 L) = (1.5874011/6, 1.5874011/1.5, 1.5874011/12) = (0.2645669, 1.0582674, 0.1322834).
    const result = combineOnce([2, 0.5, 4]);
    expect(result.loss).toBeCloseTo(Math.cbrt(4), 5);
    expectClose(result.weights, [0.2645669, 1.0582674, 0.1322834], 6);
    expectClose(lossGradient([2, 0.5, 4]), [0.2645669, 1.0582674, 0.1322834], 5);
  });

  it('two tasks (1, 4): GLS = 2, weights (1, 0.25); one task: GLS = L, weight 1', () => {
    const two = combineOnce([1, 4]);
    expect(two.loss).toBeCloseTo(2, 5);
    expectClose(two.weights, [1, 0.25], 6);
    const one = combineOnce([0.37]);
    expect(one.loss).toBeCloseTo(0.37, 6);
    expectClose(one.weights, [1], 12);
  });

  it('inactive tasks are left out: T is the number of active tasks', () => {
    // Active {0, 2} of 3 with losses (1, 9): GLS = √9 = 3, weights (3/(2·1), 3/(2·9)) = (1.5, 1/6).
    const result = combineOnce([1, 9], lossStepInfoFor(3, { active: [0, 2] }));
    expect(result.loss).toBeCloseTo(3, 5);
    expectClose(result.weights, [1.5, 1 / 6], 6);
  });

  it('a loss ≤ 0 or non-finite raises NON_FINITE_LOSS naming the task', () => {
    for (const bad of [0, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = thrownBy(() => combineOnce([1, bad]));
      expect(isMtlError(error, 'NON_FINITE_LOSS')).toBe(true);
      expect((error as Error).message).toMatch(/task 'task1'/);
    }
  });
});

describe('GLS: scale', () => {
  it('multiplying one task’s loss by k multiplies GLS by k^{1/T} and leaves the direction of the update', () => {
    // Three quadratic losses of θ ∈ R³: L_t = ½‖A_t θ − b_t‖² + 0.1.
    const a = [
      [
        [1, 0, 2],
        [0, 1, 0],
      ],
      [
        [2, -1, 0],
        [1, 1, 1],
      ],
      [
        [0, 3, 1],
        [-1, 0, 1],
      ],
    ];
    const b = [
      [1, 2],
      [0, -1],
      [3, 0.5],
    ];
    const theta = [0.3, -0.7, 1.1];
    const objectiveAndGradient = (k: number) =>
      tf.tidy(() => {
        const f = (t: tf.Tensor) => {
          const losses = a.map((matrix, i) => {
            const residual = tf.sub(tf.matMul(tf.tensor2d(matrix), tf.reshape(t, [3, 1])), tf.tensor2d(b[i]!, [2, 1]));
            const loss = tf.add(tf.mul(0.5, tf.sum(tf.square(residual))), 0.1);
            return i === 0 ? tf.mul(loss, k) : loss;
          });
          return gls().combine(tf.stack(losses) as tf.Tensor1D, null, lossStepInfoFor(3)).loss;
        };
        const { value, grad } = tf.valueAndGrad(f)(tf.tensor1d(theta));
        return { value: value.dataSync()[0]!, gradient: Array.from(grad.dataSync()) };
      });
    const base = objectiveAndGradient(1);
    for (const k of [0.01, 3, 250]) {
      const scaled = objectiveAndGradient(k);
      const factor = k ** (1 / 3);
      expect(scaled.value / base.value).toBeCloseTo(factor, 4);
      // ∇GLS = (GLS/T) Σ_t ∇L_t / L_t, and ∇(k L_1)/(k L_1) = ∇L_1/L_1: the gradient is k^{1/3}× the old one.
      scaled.gradient.forEach((g, i) => expect(g).toBeCloseTo(factor * base.gradient[i]!, 3));
    }
  });

  it('the weights: task t’s weight × k^{1/T}/k, every other task’s × k^{1/T} (their ratios unchanged)', () => {
    const losses = [0.8, 2.5, 0.1, 7];
    const base = combineOnce(losses);
    const k = 50;
    const scaled = combineOnce(losses.map((l, i) => (i === 2 ? l * k : l)));
    const factor = k ** (1 / 4);
    expect(scaled.loss / base.loss).toBeCloseTo(factor, 4);
    scaled.weights.forEach((w, i) => expect(w / base.weights[i]!).toBeCloseTo(i === 2 ? factor / k : factor, 4));
  });
});

describe('GLS: random loss vectors', () => {
  it('1000 random vectors (1–10 tasks, losses 1e-6…1e6): finite, positive, Σ w_t L_t = GLS (Euler), equal to autodiff', () => {
    const rng = Rng.fromSeed(7);
    for (let trial = 0; trial < 1000; trial++) {
      const count = 1 + rng.int(10);
      const losses = Array.from({ length: count }, () => 10 ** rng.uniform(-6, 6));
      const result = combineOnce(losses);
      expect(Number.isFinite(result.loss) && result.loss > 0).toBe(true);
      result.weights.forEach((w) => expect(Number.isFinite(w) && w > 0).toBe(true));
      // GLS is positively homogeneous of degree 1 in the losses, so Σ_t L_t ∂GLS/∂L_t = GLS.
      const float32Losses = Array.from(new Float32Array(losses));
      const euler = result.weights.reduce((s, w, t) => s + w * float32Losses[t]!, 0);
      expect(Math.abs(euler - result.loss)).toBeLessThan(1e-5 * result.loss);
      if (trial % 25 === 0) {
        lossGradient(losses).forEach((g, t) => expect(Math.abs(g - result.weights[t]!)).toBeLessThan(1e-4 * result.weights[t]!));
      }
    }
  });
});

describe('GLS: conformance, training and configuration', () => {
  it('passes checkWeighting with the properties it has', async () => {
    // Permutation: the product does not depend on the order. Scale: with every loss × c,
    // GLS × c and each L_t × c, so GLS/(T L_t) is unchanged.
    const report = await checkWeighting(gls(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('trains in the engine without leaking (trainerSmokeCheck)', async () => {
    await trainerSmokeCheck(hardSharing(), gls());
  });

  it('is configured by name through a registry; an unknown (misspelt) option is named in the error', () => {
    const registry = createRegistry();
    registry.register(gls());
    withTinyModel(hardSharing(), (model, batch) => {
      const trainer = new Trainer({ model, weighting: 'gls', registry });
      const report = trainer.step(batch);
      // The step's objective is the geometric mean of the two (raw = scaled, importance 1) losses.
      expect(report.loss).toBeCloseTo(Math.sqrt(report.losses.a! * report.losses.b!), 4);
      expect(report.weights.a).toBeCloseTo(report.loss / (2 * report.losses.a!), 4);
      trainer.dispose();
      const error = thrownBy(() => new Trainer({ model, weighting: { name: 'gls', options: { reductoin: 'mean' } }, registry }));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(/'reductoin'/);
      expect(() => gls({ epsilon: 1 } as unknown as GlsOptions)).toThrow(/'epsilon'/);
    });
  });

  it('benchmark against equal weighting on synthetic tasks', async () => {
    const r = await compareWithEqualWeighting({
      strategy: hardSharing(),
      weighting: gls(),
      data: syntheticTasks({ tasks: 2, correlation: 0.8, trainSize: 2000, validationSize: 500, inputDim: 20, seed: 42 }),
      epochs: 4,
      seed: 42,
    });
    console.log('GLS vs EW:', JSON.stringify(r));
    expect(r.ratio).toBeLessThanOrEqual(1.1);
  });
});
