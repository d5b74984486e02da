import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildHead, buildModule, isMtlError, Rng, Trainer, type LayerModule, type ModelSpec, type TaskSpec } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mmoe } from './mmoe';

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

describe('mmoe: the gated mixture', () => {
  // Two linear experts on x ∈ R², one task with a linear head; every number worked by hand.
  const spec: ModelSpec = {
    tasks: [{ name: 'y', kind: 'regression', units: 1 }],
    inputShape: [2],
    encoder: { type: 'mlp', units: [2], activation: 'linear' },
  };
  const weights = {
    'mmoe/expert0/dense0/kernel': tf.tensor2d([[1, 0], [0, 1]]), // e0(x) = x
    'mmoe/expert0/dense0/bias': tf.tensor1d([0, 0]),
    'mmoe/expert1/dense0/kernel': tf.tensor2d([[0, 1], [1, 0]]), // e1(x) = (x2 + 1, x1 − 1)
    'mmoe/expert1/dense0/bias': tf.tensor1d([1, -1]),
    'mmoe/gate/y/kernel': tf.tensor2d([[0.5, -0.5], [0.25, 0]]),
    'mmoe/gate/y/bias': tf.tensor1d([0, 0.5]),
    'mmoe/head/y/dense0/kernel': tf.tensor2d([[1], [2]]),
    'mmoe/head/y/dense0/bias': tf.tensor1d([0.5]),
  };

  for (const features of ['tasks', 'experts'] as const) {
    it(`equals softmax(Wx + b)-weighted experts worked by hand (features '${features}')`, () => {
      const model = mmoe({ experts: 2, features }).build(spec, { seed: 0 });
      model.setWeights(weights);
      const x = tf.tensor2d([[1, 2], [-1, 0]]);
      // x = (1, 2): logits (0.5 + 0.5, −0.5 + 0 + 0.5) = (1, 0); e0 = (1, 2), e1 = (3, 0).
      // x = (−1, 0): logits (−0.5, 0.5 + 0.5) = (−0.5, 1); e0 = (−1, 0), e1 = (1, −2).
      const rows = [
        { logits: [1, 0], e0: [1, 2], e1: [3, 0] },
        { logits: [-0.5, 1], e0: [-1, 0], e1: [1, -2] },
      ];
      const expectedGates = rows.map(({ logits }) => {
        const z = Math.exp(logits[0]!) + Math.exp(logits[1]!);
        return [Math.exp(logits[0]!) / z, Math.exp(logits[1]!) / z];
      });
      const expectedOutputs = rows.map(({ e0, e1 }, i) => {
        const [g0, g1] = expectedGates[i]!;
        const f = [g0! * e0[0]! + g1! * e1[0]!, g0! * e0[1]! + g1! * e1[1]!];
        return [1 * f[0]! + 2 * f[1]! + 0.5];
      });
      // First row: g = (e/(e+1), 1/(e+1)) = (0.731059, 0.268941), f = (1.537883, 1.462117), y = 4.962117.
      expect(expectedOutputs[0]![0]).toBeCloseTo(4.962117, 5);
      const gates = model.gates(x);
      expect(maxGap(gates.y!, tf.tensor2d(expectedGates))).toBeLessThan(1e-6);
      const { outputs } = model.apply(x, { training: false });
      expect(maxGap(outputs.y!, tf.tensor2d(expectedOutputs))).toBeLessThan(1e-5);
      tf.dispose([x, gates.y!, outputs.y!]);
      model.dispose();
    });
  }

  it("both feature modes give the same outputs for the same weights, and 'tasks' features are the mixtures of the 'experts' features", () => {
    const deep: ModelSpec = { tasks, inputShape: [5], encoder: { type: 'mlp', units: [6, 4] }, head: { type: 'mlp', units: [3] } };
    const byTask = mmoe({ experts: 3 }).build(deep, { seed: 1 });
    const byExpert = mmoe({ experts: 3, features: 'experts' }).build(deep, { seed: 2 });
    expect(Object.keys(byExpert.getWeights()).sort()).toEqual(Object.keys(byTask.getWeights()).sort());
    const x = tf.randomNormal([7, 5], 0, 1, 'float32', 3);
    const before = tf.tidy(() => maxGap(byTask.apply(x, { training: false }).outputs.rate!, byExpert.apply(x, { training: false }).outputs.rate!));
    expect(before).toBeGreaterThan(1e-3);
    const saved = byTask.getWeights();
    byExpert.setWeights(saved);
    tf.dispose(Object.values(saved));
    tf.tidy(() => {
      const a = byTask.apply(x, { training: false });
      const b = byExpert.apply(x, { training: false });
      for (const task of ['rate', 'family']) expect(maxGap(a.outputs[task]!, b.outputs[task]!)).toBeLessThanOrEqual(1e-6);
      const stacked = b.features as tf.Tensor;
      expect(stacked.shape).toEqual([7, 3, 4]);
      const gates = byTask.gates(x);
      for (const task of ['rate', 'family']) {
        // f_t[n] = Σ_e g_t[n, e] · expert_e(x)[n], as a batched product [N, 1, E] × [N, E, d].
        const mixture = tf.reshape(tf.matMul(tf.reshape(gates[task]!, [7, 1, 3]), stacked), [7, 4]);
        expect(maxGap((a.features as Record<string, tf.Tensor>)[task]!, mixture)).toBeLessThan(1e-6);
        expect(maxGap(tf.sum(gates[task]!, 1), tf.ones([7]))).toBeLessThan(1e-6);
      }
    });
    x.dispose();
    byTask.dispose();
    byExpert.dispose();
  });

  it('with one expert equals hard sharing (one encoder, one head per task) with the same values', () => {
    const spec: ModelSpec = { tasks, inputShape: [4], encoder: { type: 'mlp', units: [5, 3], activation: 'tanh' }, head: { type: 'mlp', units: [4] } };
    const model = mmoe({ experts: 1 }).build(spec, { seed: 5 });
    // Hard sharing built from the same core blocks hard sharing uses, then given MMoE's values.
    const rng = Rng.fromSeed(99);
    const encoder = buildModule(spec.encoder, { inputShape: [4], rng, scope: 'hard-reference/encoder', what: 'reference encoder' });
    const heads: Record<string, LayerModule> = Object.fromEntries(
      tasks.map((task) => [task.name, buildHead(spec.head as never, { featureShape: [3], units: task.units, rng, scope: `hard-reference/head/${task.name}`, what: 'reference head' })]),
    );
    const copy = (from: tf.Variable[], to: tf.Variable[]) => {
      expect(to.map((v) => v.shape)).toEqual(from.map((v) => v.shape));
      to.forEach((v, i) => v.assign(from[i]!));
    };
    copy(model.sharedVariables().slice(0, 4), encoder.variables());
    for (const task of tasks) copy(model.taskVariables(task.name), heads[task.name]!.variables());
    const x = tf.randomNormal([9, 4], 0, 1, 'float32', 7);
    tf.tidy(() => {
      const { outputs } = model.apply(x, { training: false });
      const features = encoder.apply(x, { training: false });
      for (const task of tasks) {
        const gap = maxGap(outputs[task.name]!, heads[task.name]!.apply(features, { training: false }));
        expect(gap).toBeLessThanOrEqual(1e-6);
      }
    });
    x.dispose();
    encoder.dispose?.();
    Object.values(heads).forEach((head) => head.dispose?.());
    model.dispose();
  });
});

describe('mmoe: variable groups and gradients', () => {
  const spec: ModelSpec = { tasks, inputShape: [5], encoder: { type: 'mlp', units: [6, 4] } };

  it("features 'tasks': the gates are shared and last-shared; task variables are the heads", () => {
    const model = mmoe({ experts: 2 }).build(spec, { seed: 1 });
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([[5, 6], [6], [6, 4], [4], [5, 6], [6], [6, 4], [4], [5, 2], [2], [5, 2], [2]]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[6, 4], [4], [6, 4], [4], [5, 2], [2], [5, 2], [2]]);
    expect(model.taskVariables('family').map((v) => v.shape)).toEqual([[4, 3], [3]]);
    const features = tf.tidy(() => model.encode(tf.ones([3, 5]), { training: false })) as Record<string, tf.Tensor>;
    expect(Object.keys(features).sort()).toEqual(['family', 'rate']);
    expect(features.rate!.shape).toEqual([3, 4]);
    tf.dispose(Object.values(features));
    model.dispose();
  });

  it("features 'experts': features [N, E, d]; each gate is its task's variable", () => {
    const model = mmoe({ experts: 2, features: 'experts' }).build(spec, { seed: 1 });
    expect(model.sharedVariables()).toHaveLength(8);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[6, 4], [4], [6, 4], [4]]);
    expect(model.taskVariables('family').map((v) => v.shape)).toEqual([[5, 2], [2], [4, 3], [3]]);
    const features = tf.tidy(() => model.encode(tf.ones([3, 5]), { training: false })) as tf.Tensor;
    expect(features.shape).toEqual([3, 2, 4]);
    features.dispose();
    model.dispose();
  });

  it("features 'tasks': a task's loss has zero gradient on every other task's gate", () => {
    const model = mmoe({ experts: 2 }).build(spec, { seed: 1 });
    const x = tf.randomNormal([6, 5], 0, 1, 'float32', 1);
    const gateOf = (task: string) => model.sharedVariables().filter((v) => v.name.includes(`/gate/${task}/`));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x, { training: true }).outputs.rate!)) as tf.Scalar, [...gateOf('rate'), ...gateOf('family')]);
    for (const v of gateOf('family')) expect(grads[v.name] ? tf.tidy(() => tf.max(tf.abs(grads[v.name]!)).dataSync()[0]) : 0).toBe(0);
    for (const v of gateOf('rate').slice(0, 1)) expect(tf.tidy(() => tf.max(tf.abs(grads[v.name]!)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([value, x, ...Object.values(grads)]);
    model.dispose();
  });
});

describe('mmoe: bad options, specs and inputs', () => {
  const spec: ModelSpec = { tasks, inputShape: [3], encoder: { type: 'mlp', units: [4] } };

  it('refuses bad options with BAD_CONFIG naming the option', () => {
    for (const [options, message] of [
      [{ experts: 0 }, "sharing 'mmoe': option 'experts' must be a positive integer, got 0"],
      [{ experts: 2.5 }, "sharing 'mmoe': option 'experts' must be a positive integer, got 2.5"],
      [{ experts: '3' }, `sharing 'mmoe': option 'experts' must be a positive integer, got "3"`],
      [{ features: 'task' }, `sharing 'mmoe': option 'features' must be 'tasks' or 'experts', got "task"`],
      [{ gates: 2 }, "sharing 'mmoe': unknown option 'gates'; it accepts: experts, features"],
    ] as const) {
      const error = errorOf(() => mmoe(options as never));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect(error.message).toBe(message);
    }
  });

  it('refuses bad specs with BAD_CONFIG', () => {
    const build = (changes: object) => () => mmoe().build({ ...spec, ...changes } as never, { seed: 0 });
    const cases: [object, string | RegExp][] = [
      [{ tasks: [] }, 'mmoe: the model spec needs at least one task'],
      [{ tasks: [tasks[0], tasks[0]] }, "mmoe: task name 'rate' is used twice"],
      [{ tasks: [{ name: 'b', kind: 'binary', units: 2 }] }, "task 'b': a binary task has units 1 (one logit), got 2"],
      [{ encoder: undefined }, 'mmoe: the model spec needs an encoder (the template each expert is built from)'],
      [{ encoder: { type: 'mlp', units: [] } }, /mmoe expert 0: an MLP needs at least one layer/],
    ];
    for (const [changes, message] of cases) {
      const error = errorOf(build(changes));
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
    }
    // One LayerModule instance cannot be E experts.
    const instance = buildModule({ type: 'mlp', units: [4] }, { inputShape: [3], rng: Rng.fromSeed(0), scope: 'instance', what: 'instance' });
    const error = errorOf(build({ encoder: instance }));
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect(error.message).toMatch(/^mmoe expert 0: needs one module per copy/);
    instance.dispose?.();
    // Experts of different widths cannot be mixed; nothing stays allocated.
    let calls = 0;
    const uneven = {
      type: 'factory' as const,
      create: (context: { inputShape: readonly number[]; seed: number; scope: string }) =>
        buildModule({ type: 'mlp', units: [3 + calls++] }, { inputShape: context.inputShape, rng: Rng.fromSeed(context.seed), scope: context.scope, what: 'uneven' }),
    };
    const tensors = tf.memory().numTensors;
    const widthError = errorOf(build({ encoder: uneven }));
    expect(widthError.message).toBe('mmoe: every expert must have the same output width; got [3], [4], [5], [6]');
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('refuses bad inputs and unknown tasks', () => {
    const model = mmoe().build(spec, { seed: 0 });
    const wrong = tf.ones([2, 4]);
    const error = errorOf(() => model.apply(wrong, { training: false }));
    expect(isMtlError(error, 'SHAPE_MISMATCH')).toBe(true);
    expect(error.message).toBe("mmoe: inputs of shape [2, 4] do not match the model's input shape [N, 3]");
    expect(errorOf(() => model.taskVariables('nope')).message).toBe("mmoe: no task named 'nope'; tasks: rate, family");
    const x = tf.ones([2, 3]);
    const features = model.encode(x, { training: false });
    expect(isMtlError(errorOf(() => model.decode(features, x, { training: false }, ['nope'])), 'BAD_CONFIG')).toBe(true);
    expect(isMtlError(errorOf(() => model.decode(tf.ones([2, 4]), x, { training: false })), 'BAD_DATA')).toBe(true);
    expect(isMtlError(errorOf(() => model.addTask!(tasks[0]!, { seed: 1 })), 'BAD_CONFIG')).toBe(true);
    tf.dispose([wrong, x, ...Object.values(features as Record<string, tf.Tensor>)]);
    model.dispose();
  });
});

describe('mmoe: addTask', () => {
  const spec: ModelSpec = { tasks, inputShape: [5], encoder: { type: 'mlp', units: [6, 4] } };
  const newTask: TaskSpec = { name: 'extra', kind: 'regression', units: 1 };

  for (const features of ['tasks', 'experts'] as const) {
    it(`adds a gate and a head, keeps old outputs, and trains the new task alone (features '${features}')`, () => {
      const model = mmoe({ experts: 3, features }).build(spec, { seed: 4 });
      const x = tf.randomNormal([16, 5], 0, 1, 'float32', 8);
      const before = tf.tidy(() => Object.fromEntries(Object.entries(model.apply(x, { training: false }).outputs).map(([k, v]) => [k, tf.keep(v)])));
      const oldVariables = [...model.sharedVariables(), ...tasks.flatMap((task) => model.taskVariables(task.name))];
      const oldValues = oldVariables.map((v) => tf.clone(v));
      const sharedCount = model.sharedVariables().length;

      model.addTask!(newTask, { seed: 11 });
      expect(model.taskNames).toEqual(['rate', 'family', 'extra']);
      const gateShapes = [[5, 3], [3]];
      if (features === 'tasks') {
        expect(model.sharedVariables()).toHaveLength(sharedCount + 2);
        expect(model.taskVariables('extra').map((v) => v.shape)).toEqual([[4, 1], [1]]);
      } else {
        expect(model.sharedVariables()).toHaveLength(sharedCount);
        expect(model.taskVariables('extra').map((v) => v.shape)).toEqual([...gateShapes, [4, 1], [1]]);
      }
      tf.tidy(() => {
        const after = model.apply(x, { training: false }).outputs;
        for (const task of tasks) expect(maxGap(after[task.name]!, before[task.name]!)).toBe(0);
        expect(after.extra!.shape).toEqual([16, 1]);
      });

      const target = tf.tidy(() => tf.sum(tf.slice(x, [0, 0], [16, 2]), 1, true));
      const batch = { inputs: x, targets: { extra: target }, masks: { rate: tf.zeros([16]), family: tf.zeros([16]) } };
      const newVariables = model.taskVariables('extra');
      const newValues = newVariables.map((v) => tf.clone(v));
      // In 'tasks' mode the new gate is shared, so freeze.shared holds it at its initial value.
      const newGate = model.sharedVariables().filter((v) => v.name.includes('/gate/extra/'));
      expect(newGate).toHaveLength(features === 'tasks' ? 2 : 0);
      const newGateValues = newGate.map((v) => tf.clone(v));
      const trainer = new Trainer({ model, freeze: { shared: true, tasks: ['rate', 'family'] }, optimizer: { name: 'adam', learningRate: 0.05 } });
      const first = trainer.step(batch).losses.extra!;
      let last = first;
      for (let i = 0; i < 30; i++) last = trainer.step(batch).losses.extra!;
      expect(last).toBeLessThan(first * 0.7);
      oldVariables.forEach((v, i) => expect(maxGap(v, oldValues[i]!)).toBe(0));
      // The new task's own variables trained: its head, and in 'experts' mode its gate.
      newVariables.forEach((v, i) => expect(maxGap(v, newValues[i]!)).toBeGreaterThan(0));
      newGate.forEach((v, i) => expect(maxGap(v, newGateValues[i]!)).toBe(0));
      trainer.dispose();
      tf.dispose([...newValues, ...newGateValues]);
      tf.dispose([x, target, batch.masks.rate, batch.masks.family, ...oldValues, ...Object.values(before)]);
      model.dispose();
    });
  }
});
