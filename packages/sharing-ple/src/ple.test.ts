import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, isMtlError, Rng, Trainer, type Batch, type GramianWeighting, type ModelSpec, type MultiTaskModel, type TaskSpec } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { NEW_EXPERT_GATE_BIAS, ple } from './ple';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Matrix = number[][];

const matMul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const addRow = (a: Matrix, bias: number[]): Matrix => a.map((row) => row.map((v, j) => v + bias[j]!));
const relu = (a: Matrix): Matrix => a.map((row) => row.map((v) => Math.max(0, v)));
const softmaxRows = (a: Matrix): Matrix =>
  a.map((row) => {
    const top = Math.max(...row);
    const e = row.map((v) => Math.exp(v - top));
    const sum = e.reduce((s, v) => s + v, 0);
    return e.map((v) => v / sum);
  });
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor | Matrix): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b instanceof tf.Tensor ? b : tf.tensor(b)))).dataSync()[0]!);

/** Every weight of the model replaced by `value(key, shape)`. */
function setAll(model: MultiTaskModel, value: (key: string, shape: number[]) => number[] | undefined): void {
  const weights = model.getWeights();
  const next = Object.fromEntries(
    Object.entries(weights).map(([key, tensor]) => {
      const values = value(key, tensor.shape);
      return [key, values ? tf.tensor(values, tensor.shape) : tf.clone(tensor)];
    }),
  );
  model.setWeights(next);
  [...Object.values(weights), ...Object.values(next)].forEach((t) => t.dispose());
}

function forward(model: MultiTaskModel, x: tf.Tensor): { features: Record<string, tf.Tensor>; outputs: Record<string, tf.Tensor> } {
  return tf.tidy(() => {
    const { features, outputs } = model.apply(x, { training: false });
    return { features: features as Record<string, tf.Tensor>, outputs };
  });
}

function outputsOf(model: MultiTaskModel, x: tf.Tensor): Record<string, tf.Tensor> {
  return tf.tidy(() => model.apply(x, { training: false }).outputs);
}

const regressionTasks: TaskSpec[] = [
  { name: 'a', kind: 'regression', units: 1 },
  { name: 'b', kind: 'regression', units: 1 },
];

describe('ple', () => {
  it('builds experts and gates per level, with the documented variable groups and features', () => {
    const model = ple().build(
      { tasks: regressionTasks, inputShape: [6], encoder: { type: 'mlp', units: [8, 4] }, head: { type: 'mlp', units: [3] } },
      { seed: 1 },
    );
    const shapes = (variables: tf.Variable[]) => variables.map((v) => v.shape);
    // Level 1: a, b: one expert each [6→8→4]; two shared; gates [6→3] per task, shared gate [6→1|1|2].
    // Level 2: experts [4→4]; task gates [4→3]; no shared gate.
    expect(model.sharedVariables()).toHaveLength(4 * 4 + 2 * 2 + 3 * 2 + 4 * 2 + 2 * 2);
    expect(shapes(model.lastSharedVariables())).toEqual([[4, 4], [4], [4, 4], [4], [4, 4], [4], [4, 4], [4], [4, 3], [3], [4, 3], [3]]);
    expect(shapes(model.taskVariables('a'))).toEqual([[4, 3], [3], [3, 1], [1]]);
    expect(Object.keys(model.getWeights()).filter((key) => key.startsWith('ple/level1/shared/gate'))).toEqual([
      'ple/level1/shared/gate/task/a/kernel',
      'ple/level1/shared/gate/task/a/bias',
      'ple/level1/shared/gate/task/b/kernel',
      'ple/level1/shared/gate/task/b/bias',
      'ple/level1/shared/gate/shared-experts/kernel',
      'ple/level1/shared/gate/shared-experts/bias',
    ]);
    const ones = tf.ones([3, 6]);
    const { features, outputs } = forward(model, ones);
    expect(Object.keys(features).sort()).toEqual(['a', 'b']);
    expect(features.a!.shape).toEqual([3, 4]);
    expect(outputs.b!.shape).toEqual([3, 1]);
    tf.dispose([ones, ...Object.values(features), ...Object.values(outputs)]);
    model.dispose();
  });

  it('(a) one CGC level: outputs match the softmax formula worked by hand', () => {
    const model = ple({ levels: 1, sharedExperts: 1, taskExperts: 1 }).build(
      { tasks: regressionTasks, inputShape: [2], encoder: { type: 'mlp', units: [2], activation: 'linear' } },
      { seed: 3 },
    );
    // Linear experts e(x) = x·W + c; gates softmax(x·K + g) over [own expert, shared expert];
    // heads y = f·[1, 10]ᵀ + 0.5.
    const values: Record<string, number[]> = {
      'ple/level1/task/a/expert0/dense0/kernel': [1, 0, 0, 1], // e_a = x
      'ple/level1/task/a/expert0/dense0/bias': [0, 0],
      'ple/level1/shared/expert0/dense0/kernel': [0, 1, 1, 0], // e_s = [x2 + 1, x1]
      'ple/level1/shared/expert0/dense0/bias': [1, 0],
      'ple/level1/task/b/expert0/dense0/kernel': [2, 0, 0, 2], // e_b = 2x
      'ple/level1/task/b/expert0/dense0/bias': [0, 0],
      'ple/level1/task/a/gate/kernel': [0, 0, 0, 0], // w_a = softmax([ln 3, 0]) = [3/4, 1/4]
      'ple/level1/task/a/gate/bias': [Math.log(3), 0],
      'ple/level1/task/b/gate/kernel': [1, 0, 0, 0], // w_b = softmax([x1, 0]) = [σ(x1), 1 − σ(x1)]
      'ple/level1/task/b/gate/bias': [0, 0],
      'ple/head/a/dense0/kernel': [1, 10],
      'ple/head/a/dense0/bias': [0.5],
      'ple/head/b/dense0/kernel': [1, 10],
      'ple/head/b/dense0/bias': [0.5],
    };
    expect(Object.keys(model.getWeights()).sort()).toEqual(Object.keys(values).sort());
    setAll(model, (key) => values[key]);
    const x = tf.tensor2d([
      [1, 2],
      [-1, 0.5],
    ]);
    const { features: f, outputs } = forward(model, x);
    // By hand. x = [1, 2]: e_a = [1, 2], e_s = [3, 1], e_b = [2, 4];
    //   f_a = ¾·[1, 2] + ¼·[3, 1] = [1.5, 1.75];  y_a = 1.5 + 17.5 + 0.5 = 19.5
    //   σ(1) = 0.7310586: f_b = 0.7310586·[2, 4] + 0.2689414·[3, 1] = [2.2689414, 3.1931757];  y_b = 34.700699
    // x = [−1, 0.5]: e_a = [−1, 0.5], e_s = [1.5, −1], e_b = [−2, 1];
    //   f_a = ¾·[−1, 0.5] + ¼·[1.5, −1] = [−0.375, 0.125];  y_a = 1.375
    //   σ(−1) = 0.2689414: f_b = 0.2689414·[−2, 1] + 0.7310586·[1.5, −1] = [0.5587051, −0.4621172];  y_b = −3.5624669
    expect(maxAbsDiff(f.a!, [[1.5, 1.75], [-0.375, 0.125]])).toBeLessThan(1e-6);
    expect(maxAbsDiff(f.b!, [[2.2689414, 3.1931757], [0.5587051, -0.4621172]])).toBeLessThan(1e-6);
    expect(maxAbsDiff(outputs.a!, [[19.5], [1.375]])).toBeLessThan(1e-5);
    expect(maxAbsDiff(outputs.b!, [[34.700699], [-3.5624669]])).toBeLessThan(1e-5);
    // The same from the formula f_t = Σ_k softmax(z_t)_k e_k, with exp evaluated in float64.
    const sigma = (v: number) => 1 / (1 + Math.exp(-v));
    const formula = [
      [1, 2],
      [-1, 0.5],
    ].map(([x1, x2]) => {
      const ea = [x1!, x2!];
      const es = [x2! + 1, x1!];
      const eb = [2 * x1!, 2 * x2!];
      const fa = ea.map((v, i) => 0.75 * v + 0.25 * es[i]!);
      const fb = eb.map((v, i) => sigma(x1!) * v + (1 - sigma(x1!)) * es[i]!);
      return { a: fa[0]! + 10 * fa[1]! + 0.5, b: fb[0]! + 10 * fb[1]! + 0.5 };
    });
    expect(maxAbsDiff(outputs.a!, formula.map((r) => [r.a]))).toBeLessThan(1e-5);
    expect(maxAbsDiff(outputs.b!, formula.map((r) => [r.b]))).toBeLessThan(1e-5);
    tf.dispose([x, f.a!, f.b!, outputs.a!, outputs.b!]);
    model.dispose();
  });

  it('(b) one level with no task experts equals MMoE with the same weights', () => {
    const experts = 3;
    const spec: ModelSpec = {
      tasks: [
        { name: 'a', kind: 'regression', units: 2 },
        { name: 'b', kind: 'multiclass', units: 3 },
      ],
      inputShape: [5],
      encoder: { type: 'mlp', units: [4, 3] },
    };
    const model = ple({ levels: 1, sharedExperts: experts, taskExperts: 0 }).build(spec, { seed: 11 });
    // Non-zero biases everywhere, so every term of the formula is exercised.
    const rng = Rng.fromSeed(5);
    setAll(model, (_key, shape) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal(0, 0.7)));
    const weights = model.getWeights();
    const w = (key: string) => weights[key]!.arraySync() as number[] & Matrix;
    const xRows: Matrix = Array.from({ length: 6 }, () => Array.from({ length: 5 }, () => rng.normal()));
    // MMoE (Ma et al. 2018, eq. 5-6): f_t(x) = Σ_k softmax(x·W_t + b_t)_k · e_k(x), y_t = h_t(f_t(x)).
    const expertOutputs = Array.from({ length: experts }, (_, k) => {
      const scope = `ple/level1/shared/expert${k}`;
      const hidden = relu(addRow(matMul(xRows, w(`${scope}/dense0/kernel`)), w(`${scope}/dense0/bias`)));
      return relu(addRow(matMul(hidden, w(`${scope}/dense1/kernel`)), w(`${scope}/dense1/bias`)));
    });
    let worst = 0;
    const x = tf.tensor2d(xRows);
    const outputs = outputsOf(model, x);
    for (const task of spec.tasks) {
      const gate = softmaxRows(addRow(matMul(xRows, w(`ple/level1/task/${task.name}/gate/kernel`)), w(`ple/level1/task/${task.name}/gate/bias`)));
      const mixed = xRows.map((_, n) => expertOutputs[0]![n]!.map((_, j) => expertOutputs.reduce((s, e, k) => s + gate[n]![k]! * e[n]![j]!, 0)));
      const expected = addRow(matMul(mixed, w(`ple/head/${task.name}/dense0/kernel`)), w(`ple/head/${task.name}/dense0/bias`));
      worst = Math.max(worst, maxAbsDiff(outputs[task.name]!, expected));
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    console.info(`(b) PLE(levels 1, taskExperts 0) vs MMoE formula: max abs diff ${worst.toExponential(2)}`);
    tf.dispose([x, ...Object.values(outputs), ...Object.values(weights)]);
    model.dispose();
  });

  it("(c) two levels: task a reads task b's level-1 experts through the shared gate, not b's last-level experts or gates", () => {
    const model = ple({ levels: 2, sharedExperts: 2, taskExperts: 1 }).build(
      { tasks: regressionTasks, inputShape: [4], encoder: { type: 'mlp', units: [5], activation: 'tanh' } },
      { seed: 2 },
    );
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 3);
    const reference = outputsOf(model, x);
    const gaps = (prefix: string) => {
      const saved = model.getWeights();
      // Not a constant shift: softmax(z + c) = softmax(z) would hide a gate's change.
      setAll(model, (key) => (key.startsWith(prefix) ? Array.from(saved[key]!.dataSync(), (v, i) => v + 1 + 0.37 * i) : undefined));
      const after = outputsOf(model, x);
      const result = { a: maxAbsDiff(after.a!, reference.a!), b: maxAbsDiff(after.b!, reference.b!) };
      model.setWeights(saved);
      tf.dispose([...Object.values(saved), ...Object.values(after)]);
      return result;
    };
    const level1Experts = gaps('ple/level1/task/b/expert');
    const level1Gate = gaps('ple/level1/task/b/gate');
    const level2Experts = gaps('ple/level2/task/b/expert');
    const level2Gate = gaps('ple/level2/task/b/gate');
    console.info(
      `(c) change of task a / task b after a change of b's level-1 experts ${level1Experts.a.toExponential(2)} / ${level1Experts.b.toExponential(2)}, ` +
        `b's level-1 gate ${level1Gate.a} / ${level1Gate.b.toExponential(2)}, b's level-2 experts ${level2Experts.a} / ${level2Experts.b.toExponential(2)}, ` +
        `b's level-2 gate ${level2Gate.a} / ${level2Gate.b.toExponential(2)}`,
    );
    expect(level1Experts.a).toBeGreaterThan(1e-3);
    expect(level1Experts.b).toBeGreaterThan(1e-3);
    for (const own of [level1Gate, level2Experts, level2Gate]) {
      expect(own.a).toBeLessThanOrEqual(1e-6);
      expect(own.b).toBeGreaterThan(1e-3);
    }
    // Gradient rows of task a are zero for b's last-level expert and gate.
    const shared = model.sharedVariables();
    const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }).outputs.a!), shared);
    const norm = (name: string) => (grads[name] ? tf.tidy(() => tf.sum(tf.abs(grads[name]!)).dataSync()[0]!) : 0);
    const byOwner = (part: string) => shared.filter((v) => v.name.includes(part)).map((v) => norm(v.name));
    expect(byOwner('/level2/task/b/').every((g) => g === 0)).toBe(true);
    expect(byOwner('/level1/task/b/gate').every((g) => g === 0)).toBe(true);
    expect(byOwner('/level1/task/b/expert').some((g) => g > 0)).toBe(true);
    tf.dispose([value, x, ...Object.values(grads), ...Object.values(reference)]);
    model.dispose();
  });

  it('bad options and specs raise MtlError BAD_CONFIG naming the problem; bad inputs SHAPE_MISMATCH', () => {
    const expectConfig = (run: () => unknown, text: string) => {
      try {
        run();
        expect.unreachable(`expected a BAD_CONFIG error containing ${text}`);
      } catch (error) {
        expect(isMtlError(error, 'BAD_CONFIG'), String(error)).toBe(true);
        expect((error as Error).message).toContain(text);
      }
    };
    expectConfig(() => ple({ levels: 0 }), "option 'levels' must be an integer ≥ 1, got 0");
    expectConfig(() => ple({ levels: 1.5 }), "option 'levels'");
    expectConfig(() => ple({ sharedExperts: 0 }), "option 'sharedExperts' must be an integer ≥ 1");
    expectConfig(() => ple({ taskExperts: -1 }), "option 'taskExperts' must be an integer ≥ 0");
    expectConfig(() => ple({ expertUnits: [] }), "option 'expertUnits'");
    expectConfig(() => ple({ expertUnits: [4, 0] }), "option 'expertUnits'");
    expectConfig(() => ple({ expertActivation: 'swish' as never }), "option 'expertActivation'");
    expectConfig(() => ple({ level: 2 } as never), "unknown option 'level'");

    const spec: ModelSpec = { tasks: regressionTasks, inputShape: [3], encoder: { type: 'mlp', units: [4] } };
    const before = tf.memory().numTensors;
    expectConfig(() => ple().build({ ...spec, tasks: [] }, { seed: 0 }), 'at least one task');
    expectConfig(() => ple().build({ ...spec, tasks: [regressionTasks[0]!, regressionTasks[0]!] }, { seed: 0 }), "task name 'a' is used twice");
    expectConfig(() => ple().build({ ...spec, tasks: [{ name: 'c', kind: 'binary', units: 2 }] }, { seed: 0 }), "task 'c': a binary task has units 1");
    expectConfig(() => ple().build({ ...spec, encoder: { type: 'mlp', units: [] } }, { seed: 0 }), 'at least one layer');
    const instance = ple().build(spec, { seed: 0 });
    const module = { apply: (t: tf.Tensor) => t, variables: () => [], lastLayerVariables: () => [], outputShape: (s: readonly number[]) => [...s] };
    expectConfig(() => ple().build({ ...spec, encoder: module }, { seed: 0 }), 'not a LayerModule instance');
    // A factory whose experts disagree on their width.
    let width = 3;
    const factory = {
      type: 'factory' as const,
      create: () => ({ apply: (t: tf.Tensor) => t, variables: () => [], lastLayerVariables: () => [], outputShape: () => [width++] }),
    };
    expectConfig(() => ple().build({ ...spec, encoder: factory }, { seed: 0 }), 'must all have the same output width');
    // Fails after every expert and gate was built: they must be freed.
    expectConfig(() => ple().build({ ...spec, head: { type: 'conv' } as never }, { seed: 0 }), 'a head is');
    instance.dispose();
    // A failed build frees what it had created.
    expect(tf.memory().numTensors).toBe(before);

    const model = ple().build(spec, { seed: 0 });
    try {
      tf.tidy(() => void model.apply(tf.ones([2, 4]), { training: false }));
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'SHAPE_MISMATCH')).toBe(true);
      expect((error as Error).message).toBe("ple: inputs of shape [2, 4] do not match the model's input shape [N, 3]");
    }
    expect(() => model.taskVariables('c')).toThrowError("ple: no task named 'c'; tasks: a, b");
    expectConfig(() => model.addTask!({ name: 'a', kind: 'regression', units: 1 }, { seed: 1 }), "task name 'a' is used twice");
    model.dispose();
  });
});

describe('ple.addTask', () => {
  const spec: ModelSpec = { tasks: regressionTasks, inputShape: [4], encoder: { type: 'mlp', units: [6, 3] } };
  const newTask: TaskSpec = { name: 'c', kind: 'multiclass', units: 3 };
  const data = (seed: number, labelled: 'old' | 'new'): Batch => {
    // + 101: tfjs draws from Math.random when the seed is 0 (falsy).
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', seed + 101);
    if (labelled === 'old') {
      return { inputs: x, targets: { a: tf.tidy(() => tf.sum(x, 1, true)), b: tf.tidy(() => tf.sin(tf.slice(x, [0, 0], [-1, 1]))) } };
    }
    // Class of c: [Σx > 0] + [x₂ > 1], in {0, 1, 2}; a and b unlabelled.
    const c = tf.tidy(() => tf.add(tf.cast(tf.greater(tf.sum(x, 1), 0), 'int32'), tf.cast(tf.greater(tf.reshape(tf.slice(x, [0, 1], [-1, 1]), [16]), 1), 'int32')));
    return { inputs: x, targets: { c }, masks: { a: tf.zeros([16]), b: tf.zeros([16]) } };
  };

  it("keeps the old tasks' outputs, mirrors a fresh build's checkpoint keys, and trains the new head alone when the rest is frozen", () => {
    const model = ple().build(spec, { seed: 4 });
    const old = data(1, 'old');
    const warmup = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.02 } });
    for (let i = 0; i < 20; i++) warmup.step(old);
    warmup.dispose();
    const x = tf.randomNormal([32, 4], 0, 1, 'float32', 9);
    const before = outputsOf(model, x);
    const weightsBefore = model.getWeights();

    model.addTask!(newTask, { seed: 7 });
    expect(model.taskNames).toEqual(['a', 'b', 'c']);
    expect(model.taskVariables('c').length).toBeGreaterThan(0);
    const after = outputsOf(model, x);
    const change = Math.max(maxAbsDiff(after.a!, before.a!), maxAbsDiff(after.b!, before.b!));
    console.info(`addTask: old tasks' outputs changed by at most ${change.toExponential(2)} (new shared-gate bias ${NEW_EXPERT_GATE_BIAS})`);
    expect(change).toBeLessThanOrEqual(1e-6);
    expect(after.c!.shape).toEqual([32, 3]);

    const fresh = ple().build({ ...spec, tasks: [...spec.tasks, newTask] }, { seed: 4 });
    const freshWeights = fresh.getWeights();
    const weights = model.getWeights();
    expect(Object.keys(weights).sort()).toEqual(Object.keys(freshWeights).sort());
    for (const key of Object.keys(weights)) expect(weights[key]!.shape, key).toEqual(freshWeights[key]!.shape);
    fresh.setWeights(weights);
    const loaded = outputsOf(fresh, x);
    expect(maxAbsDiff(loaded.c!, after.c!)).toBe(0);
    tf.dispose([...Object.values(freshWeights), ...Object.values(loaded)]);
    fresh.dispose();

    // Old variables kept their values through addTask.
    for (const [key, tensor] of Object.entries(weightsBefore)) expect(maxAbsDiff(weights[key]!, tensor), key).toBe(0);

    const batch = data(2, 'new');
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.05 }, freeze: { shared: true, tasks: ['a', 'b'] } });
    const first = trainer.step(batch).losses.c!;
    let last = first;
    for (let i = 0; i < 60; i++) last = trainer.step(batch).losses.c!;
    console.info(`addTask: new task's loss ${first.toFixed(4)} → ${last.toFixed(4)} over 60 frozen steps`);
    expect(last).toBeLessThan(first * 0.8);
    const trained = model.getWeights();
    const newHead = new Set(model.taskVariables('c').map((v) => v.name.replace(/^mtl\d+\//, '')));
    for (const [key, tensor] of Object.entries(weights)) {
      if (newHead.has(key)) expect(maxAbsDiff(trained[key]!, tensor), key).toBeGreaterThan(0);
      else expect(maxAbsDiff(trained[key]!, tensor), key).toBe(0);
    }
    trainer.dispose();
    tf.dispose([x, ...Object.values(before), ...Object.values(after), ...Object.values(weightsBefore), ...Object.values(weights), ...Object.values(trained)]);
    for (const b of [old, batch]) tf.dispose([b.inputs as tf.Tensor, ...Object.values(b.targets), ...Object.values(b.masks ?? {})] as tf.Tensor[]);
    model.dispose();
  });

  it('is exact when there are no task experts (the shared gates do not change)', () => {
    const model = ple({ taskExperts: 0, levels: 3 }).build(spec, { seed: 5 });
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 1);
    const before = outputsOf(model, x);
    const count = model.sharedVariables().length;
    model.addTask!(newTask, { seed: 1 });
    // One task gate per level, nothing else shared.
    expect(model.sharedVariables().length).toBe(count + 3 * 2);
    const after = outputsOf(model, x);
    expect(maxAbsDiff(after.a!, before.a!)).toBe(0);
    expect(maxAbsDiff(after.b!, before.b!)).toBe(0);
    tf.dispose([x, ...Object.values(before), ...Object.values(after)]);
    model.dispose();
  });
});

describe('ple training', () => {
  // Equal weights through the Gramian path, to train at the 'features' site.
  const gramianEqual: GramianWeighting<null> = {
    kind: 'weighting',
    name: 'gramian-equal',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['features', 'shared', 'last-shared'],
    init: () => null,
    weigh: (gramian, _losses, state) => ({ weights: new Array(gramian.shape[0]).fill(1), state }),
  };

  it('leaks no tensor over 50 trainer steps at the features site, and lowers the loss', async () => {
    const model = ple({ levels: 2, sharedExperts: 2, taskExperts: 1 }).build(
      { tasks: [regressionTasks[0]!, { name: 'k', kind: 'multiclass', units: 3 }], inputShape: [5], encoder: { type: 'mlp', units: [6, 4] } },
      { seed: 8 },
    );
    const inputs = tf.randomNormal([12, 5], 0, 1, 'float32', 4);
    const batch: Batch = {
      inputs,
      targets: { a: tf.tidy(() => tf.sum(inputs, 1)), k: tf.tensor1d(Array.from({ length: 12 }, (_, i) => i % 3), 'int32') },
    };
    const trainer = new Trainer({ model, weighting: gramianEqual, site: 'features', optimizer: { name: 'adam', learningRate: 0.02 } });
    const first = trainer.step(batch).loss;
    let last = first;
    await checkNoLeak(() => void (last = trainer.step(batch).loss), { steps: 50, label: 'ple trainer step' });
    expect(last).toBeLessThan(first);
    trainer.dispose();
    tf.dispose([inputs, ...Object.values(batch.targets)] as tf.Tensor[]);
    model.dispose();
  });
});
