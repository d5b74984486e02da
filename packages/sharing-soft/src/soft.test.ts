import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { isMtlError, Trainer, type Batch, type LayerModuleFactory, type ModelSpec, type TaskSpec } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { softSharing } from './soft';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tasks: TaskSpec[] = [
  { name: 'a', kind: 'regression', units: 2 },
  { name: 'b', kind: 'multiclass', units: 3 },
];
const spec: ModelSpec = { tasks, inputShape: [4], encoder: { type: 'mlp', units: [5, 3] } };

function values(weights: tf.NamedTensorMap): Record<string, Float32Array> {
  const out = Object.fromEntries(Object.entries(weights).map(([key, t]) => [key, Float32Array.from(t.dataSync())]));
  tf.dispose(Object.values(weights));
  return out;
}

function maxGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let gap = 0;
  for (let i = 0; i < a.length; i++) gap = Math.max(gap, Math.abs(a[i]! - b[i]!));
  return gap;
}

// tfjs draws from Math.random when a seed is 0 (falsy), so every seed here is offset by 11.
function batchFor(seed: number, names: readonly string[] = ['a', 'b']): Batch {
  const targets: Record<string, tf.Tensor> = {};
  const inputs = tf.randomNormal([8, 4], 0, 1, 'float32', seed + 11);
  if (names.includes('a')) targets.a = tf.randomNormal([8, 2], 0, 1, 'float32', seed + 12);
  if (names.includes('b')) targets.b = tf.tensor1d(Array.from({ length: 8 }, (_, i) => (i + seed) % 3), 'int32');
  // Task c is learnable from the inputs: half their sum.
  if (names.includes('c')) targets.c = tf.tidy(() => tf.mul(tf.sum(inputs, 1, true), 0.5));
  return { inputs, targets };
}

function disposeBatch(batch: Batch): void {
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets), ...Object.values(batch.masks ?? {})] as tf.Tensor[]);
}

/** Σ_{i<j} Σ_k ‖θ_i^k − θ_j^k‖² from the checkpoint of a model, by explicit pairs. */
function pairwiseDistance(weights: Record<string, Float32Array>, names: readonly string[]): number {
  let total = 0;
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      for (const key of Object.keys(weights).filter((k) => k.startsWith(`soft/tower/${names[i]}/`))) {
        const left = weights[key]!;
        const right = weights[key.replace(`/tower/${names[i]}/`, `/tower/${names[j]}/`)]!;
        for (let n = 0; n < left.length; n++) total += (left[n]! - right[n]!) ** 2;
      }
    }
  }
  return total;
}

describe('soft sharing', () => {
  it('builds one tower and one head per task; features are keyed by task', () => {
    const model = softSharing().build(spec, { seed: 1 });
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([[4, 5], [5], [5, 3], [3], [4, 5], [5], [5, 3], [3]]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[5, 3], [3], [5, 3], [3]]);
    expect(model.taskVariables('b').map((v) => v.shape)).toEqual([[3, 3], [3]]);
    expect(Object.keys(model.getWeights()).sort()).toContain('soft/tower/a/dense0/kernel');
    tf.tidy(() => {
      const { features, outputs } = model.apply(tf.ones([2, 4]), { training: false });
      expect(Object.keys(features).sort()).toEqual(['a', 'b']);
      expect((features as Record<string, tf.Tensor>).a!.shape).toEqual([2, 3]);
      expect(outputs.a!.shape).toEqual([2, 2]);
      expect(outputs.b!.shape).toEqual([2, 3]);
    });
    model.dispose();
  });

  it('(a) penalty() and its gradient equal the hand-computed tie for both ties', () => {
    // Towers: one linear unit on 2 inputs, so θ_t = (kernel[0], kernel[1], bias).
    const towers: Record<string, [number, number, number]> = { a: [1, 2, 0.5], b: [3, -1, 0], c: [0, 0, -1] };
    // Pairwise, by hand: ‖a−b‖² = 4 + 9 + 0.25 = 13.25, ‖a−c‖² = 1 + 4 + 2.25 = 7.25, ‖b−c‖² = 9 + 1 + 1 = 11; Σ = 31.5.
    // Mean: θ̄ = (4/3, 1/3, −1/6); ‖a−θ̄‖² = 120/36, ‖b−θ̄‖² = 165/36, ‖c−θ̄‖² = 93/36; Σ = 378/36 = 10.5.
    const handPairwise = 31.5;
    const handMean = 10.5;
    const lambda = 0.1;
    const tinySpec: ModelSpec = {
      tasks: ['a', 'b', 'c'].map((name) => ({ name, kind: 'regression' as const, units: 1 })),
      inputShape: [2],
      encoder: { type: 'mlp', units: [1], activation: 'linear' },
    };
    // The gradient the engine adds for tower a, by hand:
    // pairwise: 2λ Σ_{j≠a} (θ_a − θ_j) = 0.2·((−2, 3, 0.5) + (1, 2, 1.5)) = (−0.2, 1, 0.4);
    // mean: 2λ (θ_a − θ̄) (the terms through θ̄ cancel, Σ_i (θ_i − θ̄) = 0) = 0.2·(−1/3, 5/3, 2/3).
    const handGradient = { pairwise: [-0.2, 1, 0.4], mean: [-1 / 15, 1 / 3, 2 / 15] };
    for (const [tie, expected] of [
      ['pairwise', handPairwise],
      ['mean', handMean],
    ] as const) {
      const model = softSharing({ lambda, tie }).build(tinySpec, { seed: 0 });
      const weights = model.getWeights();
      for (const [task, [k0, k1, bias]] of Object.entries(towers)) {
        weights[`soft/tower/${task}/dense0/kernel`]!.dispose();
        weights[`soft/tower/${task}/dense0/bias`]!.dispose();
        weights[`soft/tower/${task}/dense0/kernel`] = tf.tensor2d([[k0], [k1]]);
        weights[`soft/tower/${task}/dense0/bias`] = tf.tensor1d([bias]);
      }
      model.setWeights(weights);
      tf.dispose(Object.values(weights));
      const penalty = model.penalty();
      expect(penalty.rank).toBe(0);
      expect(penalty.dataSync()[0]).toBeCloseTo(lambda * expected, 5);
      penalty.dispose();
      const [kernel, bias] = model.towerVariables('a');
      const { value, grads } = tf.variableGrads(() => model.penalty(), [kernel!, bias!]);
      const gradient = [...grads[kernel!.name]!.dataSync(), ...grads[bias!.name]!.dataSync()];
      gradient.forEach((g, i) => expect(g).toBeCloseTo(handGradient[tie][i]!, 5));
      tf.dispose([value, ...Object.values(grads)]);
      model.dispose();
    }
    // The pairs, enumerated explicitly, agree with the hand sum.
    const names = Object.keys(towers);
    let pairs = 0;
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) pairs += towers[names[i]!]!.reduce((s, v, k) => s + (v - towers[names[j]!]![k]!) ** 2, 0);
    expect(pairs).toBeCloseTo(handPairwise, 12);
  });

  it('(b) with λ = 0 each tower trains only from its own task', () => {
    const steps = 12;
    const optimizer = { name: 'sgd' as const, learningRate: 0.1 };
    const joint = softSharing({ lambda: 0 }).build(spec, { seed: 7 });
    const initial = joint.getWeights();
    const singles = Object.fromEntries(
      tasks.map((task) => {
        const single = softSharing({ lambda: 0 }).build({ ...spec, tasks: [task] }, { seed: 100 });
        single.setWeights(initial); // copies task's tower and head; other keys are ignored
        return [task.name, single];
      }),
    );
    tf.dispose(Object.values(initial));

    // The gradient of task b's loss w.r.t. tower a is exactly zero (tower a is not on b's path).
    tf.tidy(() => {
      const x = tf.randomNormal([8, 4], 0, 1, 'float32', 3);
      const towerA = joint.towerVariables('a');
      const towerB = joint.towerVariables('b');
      const { grads } = tf.variableGrads(() => tf.sum(joint.decode(joint.encode(x, { training: true }), x, { training: true }, ['b']).b!) as tf.Scalar, [
        ...towerA,
        ...towerB,
      ]);
      for (const v of towerA) expect(grads[v.name] === undefined || tf.max(tf.abs(grads[v.name]!)).dataSync()[0] === 0).toBe(true);
      expect(towerB.some((v) => tf.max(tf.abs(grads[v.name]!)).dataSync()[0]! > 0)).toBe(true);
    });

    const jointTrainer = new Trainer({ model: joint, optimizer });
    const singleTrainers = Object.fromEntries(Object.entries(singles).map(([name, model]) => [name, new Trainer({ model, optimizer })]));
    for (let step = 0; step < steps; step++) {
      const batch = batchFor(10 + step);
      jointTrainer.step(batch);
      for (const name of ['a', 'b']) singleTrainers[name]!.step({ inputs: batch.inputs, targets: { [name]: batch.targets[name] } });
      disposeBatch(batch);
    }
    const trained = values(joint.getWeights());
    let worst = 0;
    for (const [name, single] of Object.entries(singles)) {
      const own = values(single.getWeights());
      for (const [key, value] of Object.entries(own)) {
        expect(key.includes(`/${name}/`)).toBe(true);
        worst = Math.max(worst, maxGap(value, trained[key]!));
      }
    }
    console.log(`soft (b): λ = 0, ${steps} SGD steps: max |joint − single-task| over towers and heads = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-6);
    // The towers did move, so the comparison is not vacuous.
    const fresh = softSharing({ lambda: 0 }).build(spec, { seed: 7 });
    const before = values(fresh.getWeights());
    fresh.dispose();
    expect(maxGap(before['soft/tower/a/dense0/kernel']!, trained['soft/tower/a/dense0/kernel']!)).toBeGreaterThan(1e-3);
    jointTrainer.dispose();
    Object.values(singleTrainers).forEach((t) => t.dispose());
    joint.dispose();
    Object.values(singles).forEach((m) => m.dispose());
  });

  it('(c) raising λ shrinks the distance between the towers', () => {
    const lambdas = [0, 0.01, 0.1, 1];
    const batch = batchFor(21);
    const distances = lambdas.map((lambda) => {
      const model = softSharing({ lambda }).build(spec, { seed: 11 });
      const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.05 } });
      for (let step = 0; step < 60; step++) trainer.step(batch);
      const distance = pairwiseDistance(values(model.getWeights()), ['a', 'b']);
      trainer.dispose();
      model.dispose();
      return distance;
    });
    const start = softSharing().build(spec, { seed: 11 });
    const initial = pairwiseDistance(values(start.getWeights()), ['a', 'b']);
    start.dispose();
    disposeBatch(batch);
    console.log(`soft (c): Σ‖θ_a − θ_b‖² initially ${initial.toFixed(4)}; after 60 SGD steps: ${lambdas.map((l, i) => `λ=${l}: ${distances[i]!.toFixed(4)}`).join(', ')}`);
    for (let i = 1; i < distances.length; i++) expect(distances[i]!).toBeLessThan(distances[i - 1]!);
  });

  it('addTask: a tower copied from the mean of the towers and a head; old tasks unchanged; trains with the old ones frozen', () => {
    const model = softSharing({ lambda: 0.05, tie: 'pairwise' }).build(spec, { seed: 3 });
    const warm = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.05 } });
    for (let step = 0; step < 5; step++) {
      const batch = batchFor(step);
      warm.step(batch);
      disposeBatch(batch);
    }
    warm.dispose();
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 40);
    const before = tf.tidy(() => model.apply(x, { training: false }).outputs);
    const penaltyBefore = tf.tidy(() => model.penalty().dataSync()[0]!);
    const old = values(model.getWeights());

    model.addTask({ name: 'c', kind: 'regression', units: 1 }, { seed: 9 });
    expect(model.taskNames).toEqual(['a', 'b', 'c']);
    expect(model.taskVariables('c').length).toBe(2);
    const after = tf.tidy(() => model.apply(x, { training: false }).outputs);
    for (const name of ['a', 'b']) expect(maxGap(after[name]!.dataSync(), before[name]!.dataSync())).toBe(0);
    expect(after.c!.shape).toEqual([6, 1]);
    const grown = values(model.getWeights());
    for (const key of Object.keys(grown).filter((k) => k.startsWith('soft/tower/c/'))) {
      const mean = grown[key.replace('/c/', '/a/')]!.map((v, i) => (v + grown[key.replace('/c/', '/b/')]![i]!) / 2);
      expect(maxGap(grown[key]!, mean)).toBeLessThan(1e-6);
    }
    // The mean tower adds ‖θ̄ − θ̄‖² = 0 and keeps θ̄, so the pairwise tie λ·T·S goes from 2 to 3 times S.
    const penaltyAfter = tf.tidy(() => model.penalty().dataSync()[0]!);
    expect(penaltyAfter / penaltyBefore).toBeCloseTo(3 / 2, 4);

    const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.05 }, freeze: { shared: true, tasks: ['a', 'b'] } });
    const unlabelled = tf.zeros([8]);
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const batch = batchFor(step % 4, ['c']);
      losses.push(trainer.step({ ...batch, masks: { a: unlabelled, b: unlabelled } }).losses.c!);
      disposeBatch(batch);
    }
    unlabelled.dispose();
    const trained = values(model.getWeights());
    for (const [key, value] of Object.entries(old)) expect(maxGap(trained[key]!, value)).toBe(0);
    // The same batch (step % 4 = 0) at the first and at the last pass: its loss fell.
    expect(losses[28]!).toBeLessThan(losses[0]!);
    trainer.dispose();
    tf.dispose([x, ...Object.values(before), ...Object.values(after)]);
    model.dispose();
  });

  it("addTask with newTower 'fresh' draws the new tower from the seed", () => {
    const model = softSharing({ newTower: 'fresh' }).build(spec, { seed: 3 });
    model.addTask({ name: 'c', kind: 'binary', units: 1 }, { seed: 9 });
    const w = values(model.getWeights());
    const mean = w['soft/tower/a/dense0/kernel']!.map((v, i) => (v + w['soft/tower/b/dense0/kernel']![i]!) / 2);
    expect(maxGap(w['soft/tower/c/dense0/kernel']!, mean)).toBeGreaterThan(1e-3);
    expect(() => model.addTask({ name: 'c', kind: 'binary', units: 1 }, { seed: 1 })).toThrowError("soft sharing: task name 'c' is used twice");
    model.dispose();
  });

  it('bad options, specs and inputs are MtlErrors naming the problem', () => {
    const bad = (run: () => unknown, code: string, text: string | RegExp) => {
      try {
        run();
        expect.unreachable();
      } catch (error) {
        expect(isMtlError(error), String(error)).toBe(true);
        expect((error as { code: string }).code).toBe(code);
        expect((error as Error).message).toMatch(text);
      }
    };
    bad(() => softSharing({ lambda: -1 }), 'BAD_CONFIG', "option 'lambda' must be a finite number ≥ 0, got -1");
    bad(() => softSharing({ lambda: Number.NaN }), 'BAD_CONFIG', /'lambda'/);
    bad(() => softSharing({ tie: 'sum' as never }), 'BAD_CONFIG', `option 'tie' must be 'pairwise' or 'mean', got "sum"`);
    bad(() => softSharing({ newTower: 'zero' as never }), 'BAD_CONFIG', /'newTower'/);
    bad(() => softSharing({ lamda: 1 } as never), 'BAD_CONFIG', "sharing 'soft': unknown option 'lamda'");
    const build = (patch: Partial<ModelSpec>) => () => softSharing().build({ ...spec, ...patch } as ModelSpec, { seed: 0 });
    bad(build({ tasks: [] }), 'BAD_CONFIG', /at least one task/);
    bad(build({ tasks: [tasks[0]!, tasks[0]!] }), 'BAD_CONFIG', "task name 'a' is used twice");
    bad(build({ encoder: undefined as never }), 'BAD_CONFIG', /needs an encoder/);
    const instance = softSharing().build(spec, { seed: 0 });
    const someModule = { apply: (x: tf.Tensor) => x, variables: () => instance.sharedVariables(), lastLayerVariables: () => [], outputShape: (s: readonly number[]) => [...s] };
    bad(build({ encoder: someModule }), 'BAD_CONFIG', /not a LayerModule instance/);
    instance.dispose();
    // A factory whose modules differ between copies cannot be tied.
    let calls = 0;
    const uneven: LayerModuleFactory = {
      type: 'factory',
      create: ({ scope }) => {
        calls += 1;
        const width = calls;
        const kernel = tf.tidy(() => tf.variable(tf.zeros([4, width]), true, `${scope}/kernel`));
        return { apply: (x) => tf.matMul(x as tf.Tensor2D, kernel), variables: () => [kernel], lastLayerVariables: () => [kernel], outputShape: () => [width], dispose: () => kernel.dispose() };
      },
    };
    const tensorsBefore = tf.memory().numTensors;
    bad(build({ encoder: uneven }), 'BAD_CONFIG', /the L2 tie needs towers of one architecture/);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const model = softSharing().build(spec, { seed: 0 });
    bad(() => model.apply(tf.ones([2, 5]), { training: false }), 'SHAPE_MISMATCH', "soft sharing: inputs of shape [2, 5] do not match the model's input shape [N, 4]");
    bad(() => model.decode(tf.ones([2, 3]), tf.ones([2, 4]), { training: false }), 'BAD_DATA', /record of tensors keyed by task/);
    model.dispose();
  });
});
