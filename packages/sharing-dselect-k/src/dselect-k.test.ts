import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModule, isMtlError, Rng, Trainer, type ModelSpec, type TaskSpec } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dselectK, type DSelectKOptions } from './dselect-k';
import { entropyNumber, gateNumbers, selectorNumbers } from './paper-formulas.test-helper';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tasks: TaskSpec[] = [
  { name: 'rate', kind: 'regression', units: 2 },
  { name: 'family', kind: 'multiclass', units: 3 },
];

function maxGap(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function errorOf(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('dselect-k: the gated mixture through the model', () => {
  // Four constant experts, expert e(x) = e + 1, and a head y = f: the output is Σ_e q_e (e + 1).
  const spec: ModelSpec = { tasks: [{ name: 'y', kind: 'regression', units: 1 }], inputShape: [2], encoder: { type: 'mlp', units: [1], activation: 'linear' } };
  const constantExperts = Object.fromEntries(
    [0, 1, 2, 3].flatMap((e) => [
      [`dselect-k/expert${e}/dense0/kernel`, tf.zeros([2, 1])],
      [`dselect-k/expert${e}/dense0/bias`, tf.tensor1d([e + 1])],
    ]),
  );
  const head = { 'dselect-k/head/y/dense0/kernel': tf.tensor2d([[1]]), 'dselect-k/head/y/dense0/bias': tf.tensor1d([0]) };

  for (const features of ['tasks', 'experts'] as const) {
    it(`static gate, E = 4, k = 1, z = (0.1, −0.3): q = product formula, y = Σ q_e (e + 1) (features '${features}')`, () => {
      const model = dselectK({ experts: 4, k: 1, gate: 'static', features }).build(spec, { seed: 0 });
      const x = tf.tensor2d([[1, 2], [3, -4]]);
      model.setWeights({ ...constantExperts, ...head, 'dselect-k/gate/y/z': tf.tensor2d([[0.1, -0.3]]), 'dselect-k/gate/y/alpha': tf.tensor1d([0.7]) });
      // S(0.1) = 0.648, S(−0.3) = 0.104: q = (0.352·0.896, 0.648·0.896, 0.352·0.104, 0.648·0.104).
      const q = [0.315392, 0.580608, 0.036608, 0.067392];
      const y = q.reduce((sum, qe, e) => sum + qe * (e + 1), 0);
      expect(y).toBeCloseTo(1.856, 6);
      tf.tidy(() => {
        expect(maxGap(model.gates(x).y!, tf.tensor2d([q, q]))).toBeLessThan(1e-6);
        expect(maxGap(model.apply(x, { training: false }).outputs.y!, tf.tensor2d([[y], [y]]))).toBeLessThan(1e-5);
      });
      // Saturated (|z_j| ≥ γ/2): exactly expert 1 (binary 01), so y = 2 exactly.
      model.setWeights({ ...constantExperts, ...head, 'dselect-k/gate/y/z': tf.tensor2d([[0.6, -0.5]]), 'dselect-k/gate/y/alpha': tf.tensor1d([0.7]) });
      tf.tidy(() => {
        expect(Array.from(model.gates(x).y!.dataSync())).toEqual([0, 1, 0, 0, 0, 1, 0, 0]);
        expect(Array.from(model.apply(x, { training: false }).outputs.y!.dataSync())).toEqual([2, 2]);
      });
      x.dispose();
      model.dispose();
    });
  }

  it('per-example gate, E = 5, k = 2: z = W x + b (column i·m + j is z_ij), α = V x + c, then the formula', () => {
    const spec5: ModelSpec = { tasks, inputShape: [3], encoder: { type: 'mlp', units: [2] } };
    const model = dselectK({ experts: 5, k: 2, gamma: 1.5 }).build(spec5, { seed: 1 });
    const m = 3;
    const W = [0, 1, 2].map((r) => Array.from({ length: 2 * m }, (_, c) => 0.3 * Math.sin(1 + r * 7 + c)));
    const b = Array.from({ length: 2 * m }, (_, c) => 0.1 * Math.cos(c));
    const V = [0, 1, 2].map((r) => [0.5 * Math.sin(r), -0.4 * Math.cos(r)]);
    const c = [0.2, -0.1];
    const weights = model.getWeights();
    tf.dispose([weights['dselect-k/gate/rate/z/kernel']!, weights['dselect-k/gate/rate/z/bias']!, weights['dselect-k/gate/rate/alpha/kernel']!, weights['dselect-k/gate/rate/alpha/bias']!]);
    weights['dselect-k/gate/rate/z/kernel'] = tf.tensor2d(W);
    weights['dselect-k/gate/rate/z/bias'] = tf.tensor1d(b);
    weights['dselect-k/gate/rate/alpha/kernel'] = tf.tensor2d(V);
    weights['dselect-k/gate/rate/alpha/bias'] = tf.tensor1d(c);
    model.setWeights(weights);
    tf.dispose(Object.values(weights));
    const xs = [[1, -2, 0.5], [0.3, 0.1, 2]];
    const expected = xs.map((x) => {
      const affine = (M: number[][], bias: number[]) => bias.map((bj, j) => bj + x.reduce((s, xi, i) => s + xi * M[i]![j]!, 0));
      const z = affine(W, b);
      return gateNumbers([z.slice(0, m), z.slice(m)], affine(V, c), 5, 1.5);
    });
    const x = tf.tensor2d(xs);
    tf.tidy(() => {
      const gates = model.gates(x);
      expect(maxGap(gates.rate!, tf.tensor2d(expected))).toBeLessThan(1e-6);
      expect(maxGap(tf.sum(gates.family!, 1), tf.ones([2]))).toBeLessThan(1e-6);
    });
    x.dispose();
    model.dispose();
  });

  it('both feature modes give the same outputs for the same weights', () => {
    const deep: ModelSpec = { tasks, inputShape: [5], encoder: { type: 'mlp', units: [6, 4] }, head: { type: 'mlp', units: [3] } };
    for (const gate of ['static', 'per-example'] as const) {
      const byTask = dselectK({ experts: 3, gate }).build(deep, { seed: 1 });
      const byExpert = dselectK({ experts: 3, gate, features: 'experts' }).build(deep, { seed: 2 });
      const x = tf.randomNormal([7, 5], 0, 1, 'float32', 3);
      const saved = byTask.getWeights();
      byExpert.setWeights(saved);
      tf.dispose(Object.values(saved));
      tf.tidy(() => {
        const a = byTask.apply(x, { training: false });
        const b = byExpert.apply(x, { training: false });
        for (const task of ['rate', 'family']) expect(maxGap(a.outputs[task]!, b.outputs[task]!)).toBeLessThanOrEqual(1e-6);
        expect((b.features as tf.Tensor).shape).toEqual([7, 3, 4]);
      });
      x.dispose();
      byTask.dispose();
      byExpert.dispose();
    }
  });
});

describe('dselect-k: variable groups, penalty and gradients', () => {
  const spec: ModelSpec = { tasks, inputShape: [5], encoder: { type: 'mlp', units: [6, 4] } };

  it('groups the gate variables by feature mode and gate kind', () => {
    const shapes = (options: DSelectKOptions) => {
      const model = dselectK({ experts: 4, k: 2, ...options }).build(spec, { seed: 1 });
      const result = {
        shared: model.sharedVariables().map((v) => v.shape),
        last: model.lastSharedVariables().map((v) => v.shape),
        family: model.taskVariables('family').map((v) => v.shape),
      };
      model.dispose();
      return result;
    };
    const expertShapes = [[5, 6], [6], [6, 4], [4]];
    const lastExpert = [[6, 4], [4]];
    const perExampleGate = [[5, 4], [4], [5, 2], [2]]; // z map (k·m = 4 columns), α map (k = 2)
    const staticGate = [[2, 2], [2]]; // z [k, m], α [k]
    const headShapes = [[4, 3], [3]];
    const repeat = <T,>(list: T[], times: number) => Array.from({ length: times }, () => list).flat();
    expect(shapes({})).toEqual({
      shared: [...repeat(expertShapes, 4), ...repeat(perExampleGate, 2)],
      last: [...repeat(lastExpert, 4), ...repeat(perExampleGate, 2)],
      family: headShapes,
    });
    expect(shapes({ gate: 'static', features: 'experts' })).toEqual({ shared: repeat(expertShapes, 4), last: repeat(lastExpert, 4), family: [...staticGate, ...headShapes] });
  });

  it('penalty() = λ Σ_t Σ_i H(r_t,i) by hand, and its gradient lowers it', () => {
    const model = dselectK({ experts: 4, k: 2, gate: 'static', entropyWeight: 0.5 }).build(spec, { seed: 1 });
    const z = { rate: [[0.1, -0.3], [0.2, 0.05]], family: [[0.7, 0.2], [-0.1, -0.45]] };
    const weights = model.getWeights();
    for (const task of ['rate', 'family'] as const) {
      weights[`dselect-k/gate/${task}/z`]!.dispose();
      weights[`dselect-k/gate/${task}/z`] = tf.tensor2d(z[task]);
    }
    model.setWeights(weights);
    tf.dispose(Object.values(weights));
    const expected = 0.5 * [...z.rate, ...z.family].reduce((sum, zi) => sum + entropyNumber(selectorNumbers(zi, 1)), 0);
    const penalty = model.penalty!();
    expect(penalty.dataSync()[0]).toBeCloseTo(expected, 5);
    penalty.dispose();
    const gates = model.sharedVariables().filter((v) => v.name.endsWith('/z'));
    for (let i = 0; i < 5; i++) {
      const { value, grads } = tf.variableGrads(() => model.penalty!(), gates);
      tf.tidy(() => gates.forEach((v) => v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.1)))));
      tf.dispose([value, ...Object.values(grads)]);
    }
    const after = model.penalty!();
    expect(after.dataSync()[0]).toBeLessThan(expected);
    after.dispose();
    model.dispose();
    expect(dselectK().build(spec, { seed: 1 }).penalty).toBeUndefined();
  });

  it("features 'tasks': a task's loss has zero gradient on every other task's gate", () => {
    const model = dselectK({ experts: 4 }).build(spec, { seed: 1 });
    const x = tf.randomNormal([6, 5], 0, 1, 'float32', 1);
    const gateOf = (task: string) => model.sharedVariables().filter((v) => v.name.includes(`/gate/${task}/`));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x, { training: true }).outputs.rate!)) as tf.Scalar, [...gateOf('rate'), ...gateOf('family')]);
    for (const v of gateOf('family')) expect(grads[v.name] ? tf.tidy(() => tf.max(tf.abs(grads[v.name]!)).dataSync()[0]) : 0).toBe(0);
    expect(tf.tidy(() => tf.max(tf.abs(grads[gateOf('rate')[0]!.name]!)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([value, x, ...Object.values(grads)]);
    model.dispose();
  });
});

describe('dselect-k: bad options, specs and inputs', () => {
  const spec: ModelSpec = { tasks, inputShape: [3], encoder: { type: 'mlp', units: [4] } };

  it('refuses bad options with BAD_CONFIG naming the option', () => {
    const prefix = "sharing 'dselect-k': option";
    for (const [options, message] of [
      [{ experts: 1 }, `${prefix} 'experts' must be an integer ≥ 2 (one expert leaves nothing to select), got 1`],
      [{ experts: 4.5 }, `${prefix} 'experts' must be an integer ≥ 2 (one expert leaves nothing to select), got 4.5`],
      [{ k: 0 }, `${prefix} 'k' must be an integer from 1 to experts (4), got 0`],
      [{ experts: 3, k: 4 }, `${prefix} 'k' must be an integer from 1 to experts (3), got 4`],
      [{ gamma: 0 }, `${prefix} 'gamma' must be a finite number > 0, got 0`],
      [{ gamma: Number.POSITIVE_INFINITY }, `${prefix} 'gamma' must be a finite number > 0, got null`],
      [{ gate: 'dynamic' }, `${prefix} 'gate' must be 'static' or 'per-example', got "dynamic"`],
      [{ features: 'task' }, `${prefix} 'features' must be 'tasks' or 'experts', got "task"`],
      [{ entropyWeight: -1, gate: 'static' }, `${prefix} 'entropyWeight' must be a finite number ≥ 0, got -1`],
      [{ entropyWeight: 0.1 }, `${prefix} 'entropyWeight' needs gate 'static': a per-example gate's entropy depends on the batch, which the model's penalty() does not see`],
      [
        { entropyWeight: 0.1, gate: 'static', features: 'experts' },
        `${prefix} 'entropyWeight' needs features 'tasks': with features 'experts' the gates are task variables, and the engine applies penalty() to the shared variables only`,
      ],
      [{ topK: 2 }, "sharing 'dselect-k': unknown option 'topK'; it accepts: experts, k, gamma, gate, features, entropyWeight"],
    ] as const) {
      const error = errorOf(() => dselectK(options as never));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect(error.message).toBe(message);
    }
  });

  it('refuses bad specs with BAD_CONFIG, freeing what it built', () => {
    const build = (changes: object) => () => dselectK().build({ ...spec, ...changes } as never, { seed: 0 });
    const cases: [object, string | RegExp][] = [
      [{ tasks: [] }, 'dselect-k: the model spec needs at least one task'],
      [{ tasks: [tasks[0], tasks[0]] }, "dselect-k: task name 'rate' is used twice"],
      [{ tasks: [{ name: 'n', kind: 'regression', units: 0 }] }, "task 'n': units must be a positive integer, got 0"],
      [{ encoder: undefined }, 'dselect-k: the model spec needs an encoder (the template each expert is built from)'],
      [{ encoder: { type: 'mlp', units: [] } }, /dselect-k expert 0: an MLP needs at least one layer/],
      [{ head: { type: 'mlp', units: [0] } }, /layer 0 width must be a positive integer, got 0/],
    ];
    const tensors = tf.memory().numTensors;
    for (const [changes, message] of cases) {
      const error = errorOf(build(changes));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    const instance = buildModule({ type: 'mlp', units: [4] }, { inputShape: [3], rng: Rng.fromSeed(0), scope: 'instance', what: 'instance' });
    expect(errorOf(build({ encoder: instance })).message).toMatch(/^dselect-k expert 0: needs one module per copy/);
    instance.dispose?.();
  });

  it('refuses bad inputs and unknown tasks', () => {
    const model = dselectK({ features: 'experts' }).build(spec, { seed: 0 });
    const wrong = tf.ones([2, 3, 1]);
    const error = errorOf(() => model.apply(wrong, { training: false }));
    expect(isMtlError(error, 'SHAPE_MISMATCH')).toBe(true);
    expect(error.message).toBe("dselect-k: inputs of shape [2, 3, 1] do not match the model's input shape [N, 3]");
    expect(errorOf(() => model.taskVariables('nope')).message).toBe("dselect-k: no task named 'nope'; tasks: rate, family");
    const x = tf.ones([2, 3]);
    const bad = tf.ones([2, 5, 4]);
    expect(errorOf(() => model.decode(bad, x, { training: false })).message).toBe(
      "dselect-k (features 'experts'): features must be the experts' outputs [N, 4, 4], got [2, 5, 4]",
    );
    tf.dispose([wrong, x, bad]);
    model.dispose();
  });
});

describe('dselect-k: addTask', () => {
  const spec: ModelSpec = { tasks, inputShape: [5], encoder: { type: 'mlp', units: [6, 4] } };
  const newTask: TaskSpec = { name: 'extra', kind: 'regression', units: 1 };

  for (const [features, gate] of [['tasks', 'per-example'], ['experts', 'static']] as const) {
    it(`adds a gate and a head, keeps old outputs, and trains the new task alone (features '${features}', gate '${gate}')`, () => {
      const model = dselectK({ experts: 3, features, gate }).build(spec, { seed: 4 });
      const x = tf.randomNormal([16, 5], 0, 1, 'float32', 8);
      const before = tf.tidy(() => Object.fromEntries(Object.entries(model.apply(x, { training: false }).outputs).map(([k, v]) => [k, tf.keep(v)])));
      const oldVariables = [...model.sharedVariables(), ...tasks.flatMap((task) => model.taskVariables(task.name))];
      const oldValues = oldVariables.map((v) => tf.clone(v));

      model.addTask!(newTask, { seed: 11 });
      expect(model.taskNames).toEqual(['rate', 'family', 'extra']);
      const newGate = (features === 'tasks' ? model.sharedVariables() : model.taskVariables('extra')).filter((v) => v.name.includes('/gate/extra/'));
      expect(newGate.map((v) => v.shape)).toEqual(gate === 'static' ? [[2, 2], [2]] : [[5, 4], [4], [5, 2], [2]]);
      tf.tidy(() => {
        const after = model.apply(x, { training: false }).outputs;
        for (const task of tasks) expect(maxGap(after[task.name]!, before[task.name]!)).toBe(0);
        expect(after.extra!.shape).toEqual([16, 1]);
      });

      const target = tf.tidy(() => tf.sum(tf.slice(x, [0, 0], [16, 2]), 1, true));
      const batch = { inputs: x, targets: { extra: target }, masks: { rate: tf.zeros([16]), family: tf.zeros([16]) } };
      const newVariables = model.taskVariables('extra');
      const newValues = newVariables.map((v) => tf.clone(v));
      const trainer = new Trainer({ model, freeze: { shared: true, tasks: ['rate', 'family'] }, optimizer: { name: 'adam', learningRate: 0.05 } });
      const first = trainer.step(batch).losses.extra!;
      let last = first;
      for (let i = 0; i < 30; i++) last = trainer.step(batch).losses.extra!;
      expect(last).toBeLessThan(first * 0.7);
      oldVariables.forEach((v, i) => expect(maxGap(v, oldValues[i]!)).toBe(0));
      newVariables.forEach((v, i) => expect(maxGap(v, newValues[i]!)).toBeGreaterThan(0));
      trainer.dispose();
      tf.dispose([x, target, batch.masks.rate, batch.masks.family, ...oldValues, ...newValues, ...Object.values(before)]);
      model.dispose();
    });
  }
});
