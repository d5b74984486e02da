import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, createRegistry, isMtlError, Trainer, TrainStepEngine, type GramianWeighting, type MultiTaskModel, type TaskSpec } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { hardSharing } from './hard';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tasks: TaskSpec[] = [
  { name: 'rate', kind: 'regression', units: 2 },
  { name: 'family', kind: 'multiclass', units: 5 },
];

describe('hard sharing', () => {
  it('builds one encoder and one head per task, with the documented variable groups', () => {
    const model = hardSharing().build({ tasks, inputShape: [6], encoder: { type: 'mlp', units: [8, 4] }, head: { type: 'mlp', units: [3] } }, { seed: 1 });
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([[6, 8], [8], [8, 4], [4]]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[8, 4], [4]]);
    expect(model.taskVariables('family').map((v) => v.shape)).toEqual([[4, 3], [3], [3, 5], [5]]);
    const { outputs, features } = model.apply(tf.ones([2, 6]), { training: false });
    expect((features as tf.Tensor).shape).toEqual([2, 4]);
    expect(outputs.rate!.shape).toEqual([2, 2]);
    expect(outputs.family!.shape).toEqual([2, 5]);
    model.dispose();
  });

  it('takes inputs of rank > 2 by flattening them', () => {
    const model = hardSharing().build({ tasks, inputShape: [2, 3], encoder: { type: 'mlp', units: [4] } }, { seed: 1 });
    expect(model.apply(tf.ones([5, 2, 3]), { training: false }).outputs.rate!.shape).toEqual([5, 2]);
    model.dispose();
  });

  it('weights move between two models by local name', () => {
    const spec = { tasks, inputShape: [6], encoder: { type: 'mlp' as const, units: [8] } };
    const a = hardSharing().build(spec, { seed: 1 });
    const b = hardSharing().build(spec, { seed: 2 });
    const x = tf.randomNormal([3, 6], 0, 1, 'float32', 5);
    expect(Object.keys(a.getWeights())).toContain('hard/encoder/dense0/kernel');
    b.setWeights(a.getWeights());
    const diff = tf.max(tf.abs(tf.sub(a.apply(x, { training: false }).outputs.family!, b.apply(x, { training: false }).outputs.family!))).dataSync()[0];
    expect(diff).toBe(0);
    const weights = a.getWeights();
    delete weights['hard/head/rate/dense0/bias'];
    expect(() => b.setWeights(weights)).toThrowError("weights are missing 'hard/head/rate/dense0/bias'");
    a.dispose();
    b.dispose();
  });

  it('bad specs and inputs are MtlErrors naming what is wrong', () => {
    const build = (spec: object) => () => hardSharing().build({ inputShape: [3], encoder: { type: 'mlp', units: [4] }, tasks, ...spec } as never, { seed: 0 });
    expect(build({ tasks: [] })).toThrowError(/at least one task/);
    expect(build({ tasks: [tasks[0], tasks[0]] })).toThrowError("hard sharing: task name 'rate' is used twice");
    expect(build({ tasks: [{ name: 'b', kind: 'binary', units: 2 }] })).toThrowError("task 'b': a binary task has units 1 (one logit), got 2");
    expect(build({ encoder: { type: 'mlp', units: [] } })).toThrowError(/at least one layer/);
    const model = hardSharing().build({ tasks, inputShape: [3], encoder: { type: 'mlp', units: [4] } }, { seed: 0 });
    try {
      model.apply(tf.ones([2, 4]), { training: false });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'SHAPE_MISMATCH')).toBe(true);
      expect((error as Error).message).toBe("hard sharing: inputs of shape [2, 4] do not match the model's input shape [N, 3]");
    }
    model.dispose();
  });

  it('trains with the engine and leaks nothing over 100 steps', () => {
    const model = hardSharing().build({ tasks, inputShape: [6], encoder: { type: 'mlp', units: [8, 4] } }, { seed: 3 });
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 } });
    const batch = {
      inputs: tf.randomNormal([16, 6], 0, 1, 'float32', 1),
      targets: { rate: tf.randomNormal([16, 2], 0, 1, 'float32', 2), family: tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 5), 'int32') },
    };
    const first = trainer.step(batch).loss;
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 100; i++) last = trainer.step(batch).loss;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first / 2);
    trainer.dispose();
    model.dispose();
  });
});

describe('hard sharing options', () => {
  it('is configured by name and refuses unknown or bad options', () => {
    const registry = createRegistry();
    registry.register(hardSharing());
    const configured = registry.resolve('sharing', { name: 'hard', options: { defaultEncoderUnits: [5] } });
    const model = configured.build({ tasks, inputShape: [6], encoder: undefined as never }, { seed: 1 });
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([[6, 5], [5]]);
    model.dispose();
    expect(() => registry.resolve('sharing', { name: 'hard', options: { defaultEncoderUnit: [5] } })).toThrow(/defaultEncoderUnit/);
    expect(() => hardSharing({ defaultEncoderUnits: [0] })).toThrow(/defaultEncoderUnits must be/);
  });
});

describe('hard sharing: decodeStacked (the engine computes heads that share a spec together)', () => {
  const many: TaskSpec[] = Array.from({ length: 12 }, (_, t) => ({ name: `t${t}`, kind: 'multiclass' as const, units: 4 }));

  for (const head of [undefined, { type: 'mlp' as const, units: [5] }]) {
    it(`equals decode's outputs stacked on axis 1 (${head ? 'heads with a hidden layer' : 'linear heads'})`, () => {
      const model = hardSharing().build({ tasks: many, inputShape: [6], encoder: { type: 'mlp', units: [8] }, ...(head ? { head } : {}) }, { seed: 2 });
      const inputs = tf.randomNormal([9, 6], 0, 1, 'float32', 5);
      const features = model.encode(inputs, { training: true });
      const names = ['t3', 't0', 't7'];
      const stacked = model.decodeStacked!(features, inputs, { training: true }, names)!;
      const outputs = model.decode(features, inputs, { training: true }, names);
      const expected = tf.stack(names.map((name) => outputs[name]!), 1);
      expect(stacked.shape).toEqual([9, 3, 4]);
      const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(stacked, expected))).dataSync()[0]!);
      expect(gap).toBeLessThan(1e-6);
      tf.dispose([inputs, features as tf.Tensor, stacked, expected, ...Object.values(outputs)]);
      model.dispose();
    });
  }

  it('12 linear heads are one matMul (2 with the one-layer encoder); an unknown task is BAD_CONFIG', async () => {
    const model = hardSharing().build({ tasks: many, inputShape: [6], encoder: { type: 'mlp', units: [8] } }, { seed: 3 });
    const inputs = tf.randomNormal([9, 6], 0, 1, 'float32', 6);
    const profile = await tf.profile(() => {
      const features = model.encode(inputs, { training: true });
      tf.dispose([features as tf.Tensor, model.decodeStacked!(features, inputs, { training: true }, model.taskNames)!]);
    });
    expect(profile.kernels.filter((k) => k.name === 'BatchMatMul')).toHaveLength(2);
    const zeros = tf.zeros([9, 8]);
    expect(() => model.decodeStacked!(zeros, inputs, { training: true }, ['t0', 'nope'])).toThrow(/no head for task 'nope'/);
    tf.dispose([inputs, zeros]);
    model.dispose();
  });
});

describe('hard sharing: decodeStackedCopies and encodeRecorded (the engine\'s gradient sites)', () => {
  const many: TaskSpec[] = Array.from({ length: 6 }, (_, t) => ({ name: `t${t}`, kind: 'multiclass' as const, units: 3 }));

  for (const head of [undefined, { type: 'mlp' as const, units: [5] }]) {
    it(`each copy's gradient is its own task's feature gradient, and the outputs equal decodeStacked's (${head ? 'heads with a hidden layer' : 'linear heads'})`, () => {
      const model = hardSharing().build({ tasks: many, inputShape: [6], encoder: { type: 'mlp', units: [8] }, ...(head ? { head } : {}) }, { seed: 4 });
      const inputs = tf.randomNormal([7, 6], 0, 1, 'float32', 8);
      const features = model.encode(inputs, { training: true }) as tf.Tensor;
      const names = ['t4', 't1', 't2'];
      // Per-task cotangents of the stacked outputs [N, 3, 3]: task k's loss is ⟨output_k, c_k⟩.
      const c = tf.randomNormal([7, 3, 3], 0, 1, 'float32', 9);
      const copies = names.map(() => tf.clone(features));
      const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(model.decodeStackedCopies!(xs, inputs, { training: true }, names)!, c)))(copies);
      const stacked = model.decodeStacked!(features, inputs, { training: true }, names)!;
      const viaCopies = model.decodeStackedCopies!(copies, inputs, { training: true }, names)!;
      expect(maxDiff(viaCopies, stacked)).toBeLessThan(1e-6);
      names.forEach((name, k) => {
        const ck = tf.squeeze(tf.slice(c, [0, k, 0], [-1, 1, -1]), [1]);
        const alone = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(model.decode(f, inputs, { training: true }, [name])[name]!, ck)))(features);
        expect(maxDiff(grads[k]!, alone)).toBeLessThan(1e-5);
        tf.dispose([ck, alone]);
      });
      expect(() => model.decodeStackedCopies!(copies.slice(1), inputs, { training: true }, names)).toThrowError(/2 input copies for 3 stacks/);
      tf.dispose([inputs, features, c, ...copies, ...grads, stacked, viaCopies]);
      model.dispose();
    });
  }

  it('an MLP encoder records its pass (output equal to encode); a conv encoder gives null and the engine falls back', () => {
    const mlp = hardSharing().build({ tasks: many, inputShape: [6], encoder: { type: 'mlp', units: [8, 4] } }, { seed: 5 });
    const inputs = tf.randomNormal([7, 6], 0, 1, 'float32', 10);
    const pass = mlp.encodeRecorded!(inputs, { training: true })!;
    const encoded = mlp.encode(inputs, { training: true }) as tf.Tensor;
    expect(maxDiff(pass.output, encoded)).toBeLessThan(1e-6);
    expect(() => mlp.encodeRecorded!(tf.ones([2, 5]), { training: true })).toThrowError(/do not match the model's input shape/);
    pass.dispose();
    const conv = hardSharing().build(
      { tasks: many, inputShape: [8, 8, 1], encoder: { type: 'conv', blocks: [{ filters: 2, kernelSize: 3 }] } },
      { seed: 5 },
    );
    const images = tf.ones([2, 8, 8, 1]);
    expect(conv.encodeRecorded!(images, { training: true })).toBeNull();
    tf.dispose([inputs, encoded, images]);
    mlp.dispose();
    conv.dispose();
  });
});

describe("hard sharing: linear heads (the engine's 'features' site forms G without the Jacobian)", () => {
  // Two loss groups of multiclass heads (one masked), a regression head with an importance, in an
  // order that interleaves the groups.
  const mixed: TaskSpec[] = [
    { name: 'a', kind: 'multiclass', units: 3 },
    { name: 'r', kind: 'regression', units: 2, weight: 0.5 },
    { name: 'b', kind: 'multiclass', units: 3 },
    { name: 'c', kind: 'multiclass', units: 3 },
  ];
  const spec = { tasks: mixed, inputShape: [6], encoder: { type: 'mlp' as const, units: [8, 5] } };
  const batchOf = () => ({
    inputs: tf.randomNormal([9, 6], 0, 1, 'float32', 21),
    targets: {
      a: tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'),
      r: tf.randomNormal([9, 2], 0, 1, 'float32', 22),
      b: tf.tensor1d([2, 2, 1, 0, 1, 0, 0, 2, 1], 'int32'),
      c: tf.tensor1d([1, 0, 0, 2, 2, 1, 1, 0, 2], 'int32'),
    },
    masks: { b: tf.tensor1d([1, 0, 1, 1, 1, 0, 1, 1, 1]) },
  });
  const disposeBatch = (batch: ReturnType<typeof batchOf>) => tf.dispose([batch.inputs, ...Object.values(batch.targets), batch.masks.b]);
  /** Weights that depend on G: w_t = 1 / √G_tt (each task's gradient normalised). */
  const normalising: GramianWeighting<null> = {
    kind: 'weighting',
    name: 'normalising-test',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['features'],
    init: () => null,
    weigh: (gramian) => {
      const g = gramian.arraySync();
      return { weights: g.map((row, t) => 1 / Math.sqrt(row[t]!)), state: null };
    },
  };
  /** The same model with no linearHeads: the engine's general path. */
  const general = (model: MultiTaskModel): MultiTaskModel => {
    const view = Object.create(model) as MultiTaskModel & { linearHeads?: unknown };
    view.linearHeads = undefined;
    return view;
  };
  const engineOf = (model: MultiTaskModel) => new TrainStepEngine({ model, weighting: normalising, optimizer: tf.train.sgd(0.1), site: 'features', seed: 1 });

  it('gives the general path\'s losses, head gradients, Jacobian rows, Gramian and combination', () => {
    const model = hardSharing().build(spec, { seed: 7 });
    const batch = batchOf();
    const fast = engineOf(model);
    const slow = engineOf(general(model));
    const preparedFast = fast.prepare(batch);
    const preparedSlow = slow.prepare(batch);
    const a = fast.taskGradients(preparedFast, 'features');
    const b = slow.taskGradients(preparedSlow, 'features');
    expect(a.gramian).toBeDefined();
    expect(b.gramian).toBeUndefined();
    // A Jacobian weighting reads all of J: the engine keeps the general path for it.
    const jacobianLevel = new TrainStepEngine({
      model,
      weighting: { ...normalising, level: 'jacobian', aggregate: () => { throw new Error('not called'); } } as unknown as GramianWeighting<null>,
      optimizer: tf.train.sgd(0.1),
      site: 'features',
      seed: 1,
    });
    const viaJacobian = jacobianLevel.taskGradients(preparedFast, 'features');
    expect(viaJacobian.gramian).toBeUndefined();
    expect(maxDiff(viaJacobian.jacobian, b.jacobian)).toBeLessThan(1e-6);
    viaJacobian.dispose();
    expect(maxDiff(a.losses, b.losses)).toBeLessThan(1e-6);
    a.heads.forEach((heads, t) => {
      expect(Object.keys(heads).sort()).toEqual(Object.keys(b.heads[t]!).sort());
      for (const name of Object.keys(heads)) expect(maxDiff(heads[name]!, b.heads[t]![name]!)).toBeLessThan(1e-6);
    });
    const g = a.gramian!();
    const reference = tf.matMul(b.jacobian, b.jacobian, false, true);
    expect(maxDiff(g, reference)).toBeLessThan(1e-5 * tf.max(tf.abs(reference)).dataSync()[0]!);
    expect(maxDiff(a.jacobian, b.jacobian)).toBeLessThan(1e-6);
    const w = tf.tensor1d([0.3, -1.2, 2, 0.7]);
    const combined = a.combine!(w);
    const expected = tf.sum(tf.mul(b.jacobian, tf.reshape(w, [-1, 1])), 0);
    expect(maxDiff(combined, expected)).toBeLessThan(1e-5);
    const row = a.row(2);
    expect(row[0]!.shape).toEqual([9, 5]);
    expect(maxDiff(tf.reshape(row[0]!, [-1]), tf.reshape(tf.slice(b.jacobian, [2, 0], [1, -1]), [-1]))).toBeLessThan(1e-6);
    tf.dispose([g, reference, w, combined, expected, ...row]);
    a.dispose();
    b.dispose();
    preparedFast.dispose();
    preparedSlow.dispose();
    disposeBatch(batch);
    model.dispose();
  });

  it('heads of one width (block sums by reshape, in task order across loss groups) give the general path\'s J Jᵀ, and nothing leaks', () => {
    // Groups [a, b] (multiclass) and [r] (regression): the heads' order a, b, r is not the tasks'.
    const even: TaskSpec[] = [
      { name: 'a', kind: 'multiclass', units: 3 },
      { name: 'r', kind: 'regression', units: 3, weight: 2 },
      { name: 'b', kind: 'multiclass', units: 3 },
    ];
    const model = hardSharing().build({ tasks: even, inputShape: [6], encoder: { type: 'mlp', units: [8, 5] } }, { seed: 4 });
    const targets = {
      a: tf.tensor1d([0, 1, 2, 0, 1, 2, 0], 'int32'),
      r: tf.randomNormal([7, 3], 0, 1, 'float32', 5),
      b: tf.tensor1d([2, 1, 1, 0, 2, 0, 1], 'int32'),
    };
    const batch = { inputs: tf.randomNormal([7, 6], 0, 1, 'float32', 40), targets };
    const fast = engineOf(model);
    const slow = engineOf(general(model));
    const [preparedFast, preparedSlow] = [fast.prepare(batch), slow.prepare(batch)];
    const a = fast.taskGradients(preparedFast, 'features');
    const b = slow.taskGradients(preparedSlow, 'features');
    const g = a.gramian!();
    const reference = tf.matMul(b.jacobian, b.jacobian, false, true);
    expect(g.shape).toEqual([3, 3]);
    expect(maxDiff(g, reference)).toBeLessThan(1e-5 * tf.max(tf.abs(reference)).dataSync()[0]!);
    const values = g.arraySync();
    values.forEach((row, i) => row.forEach((v, j) => expect(v).toBe(values[j]![i]!)));
    tf.dispose([g, reference]);
    const before = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) a.gramian!().dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
    preparedFast.dispose();
    preparedSlow.dispose();
    tf.dispose([batch.inputs, ...Object.values(targets)]);
    model.dispose();
  });

  it('trains exactly as the general path (weights from G), and leaks nothing over 60 steps', () => {
    const [m1, m2] = [hardSharing().build(spec, { seed: 9 }), hardSharing().build(spec, { seed: 9 })];
    const batch = batchOf();
    const fast = engineOf(m1);
    const slow = engineOf(general(m2));
    for (let step = 0; step < 3; step++) {
      fast.runStep(batch);
      slow.runStep(batch);
    }
    const after = (m: MultiTaskModel) => [...m.sharedVariables(), ...m.taskNames.flatMap((t) => m.taskVariables(t))];
    const [v1, v2] = [after(m1), after(m2)];
    expect(v1.length).toBe(v2.length);
    v1.forEach((v, i) => expect(maxDiff(v, v2[i]!), v.name).toBeLessThan(1e-5));
    const before = tf.memory().numTensors;
    for (let step = 0; step < 60; step++) fast.runStep(batch);
    expect(tf.memory().numTensors).toBe(before);
    disposeBatch(batch);
    m1.dispose();
    m2.dispose();
  });

  it('heads with a hidden layer are not linear: linearHeads gives null', () => {
    const deep = hardSharing().build({ ...spec, head: { type: 'mlp', units: [4] } }, { seed: 3 });
    expect(deep.linearHeads!(['a', 'b'])).toBeNull();
    const flat = hardSharing().build(spec, { seed: 3 });
    expect(flat.linearHeads!(['c', 'a'])!.map((layer) => layer.kernel.shape)).toEqual([
      [5, 3],
      [5, 3],
    ]);
    deep.dispose();
    flat.dispose();
  });
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}
