import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRegistry, isMtlError, Rng, Trainer, type Batch, type DataSource, type ModelSpec, type TaskSpec } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { beforeAll, describe, expect, it } from 'vitest';
import { measureTaskAffinity } from './affinity';
import { clustered } from './clustered';
import type { ClusteredMultiTaskModel } from './model';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const regression = (name: string): TaskSpec => ({ name, kind: 'regression', units: 1 });

function disposeBatches(batches: Batch[]): void {
  for (const batch of batches) {
    if (batch.inputs instanceof tf.Tensor) batch.inputs.dispose();
    Object.values(batch.targets).forEach((t) => t?.dispose());
    Object.values(batch.masks ?? {}).forEach((t) => t?.dispose());
  }
}

function expectMtlError(run: () => unknown, code: 'BAD_CONFIG' | 'BAD_DATA' | 'SHAPE_MISMATCH', text: string | RegExp): void {
  try {
    run();
  } catch (error) {
    expect(isMtlError(error, code), String(error)).toBe(true);
    if (typeof text === 'string') expect((error as Error).message).toContain(text);
    else expect((error as Error).message).toMatch(text);
    return;
  }
  expect.unreachable(`expected an MtlError ${code}`);
}

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);

/**
 * Regression tasks on x ∈ R^8 (standard normal): y_t = f(w_t · x) + 0.05 noise, with each task's
 * teacher w_t = its group's teacher + 0.03 × its own standard normal vector.
 */
function teacherBatches(seed: number, groupTeachers: (w: number[], rng: Rng) => Record<string, number[]>, f: (z: number) => number, count = 4, size = 64): Batch[] {
  const rng = Rng.fromSeed(seed);
  const w = Array.from({ length: 8 }, () => rng.normal());
  const teachers = Object.fromEntries(Object.entries(groupTeachers(w, rng)).map(([task, t]) => [task, t.map((v) => v + 0.03 * rng.normal())]));
  return Array.from({ length: count }, () => {
    const xs = Array.from({ length: size }, () => Array.from({ length: 8 }, () => rng.normal()));
    const targets = Object.fromEntries(Object.entries(teachers).map(([task, t]) => [task, tf.tensor2d(xs.map((x) => [f(dot(x, t)) + 0.05 * rng.normal()]))]));
    return { inputs: tf.tensor2d(xs), targets };
  });
}

function printAffinity(title: string, model: ClusteredMultiTaskModel): void {
  const names = model.clustering!.taskNames;
  const lines = model.affinity!.map((row, i) => `${names[i]!.padEnd(4)}${row.map((z) => z.toFixed(4).padStart(9)).join('')}`);
  console.log(`${title} — Ẑ_{row→column} over ${model.clustering!.steps} warm-up steps; groups ${JSON.stringify(model.groups)}, score ${model.clustering!.score.toFixed(4)}\n    ${names.map((n) => n.padStart(9)).join('')}\n${lines.join('\n')}`);
}

function groupMeans(model: ClusteredMultiTaskModel): { within: number; across: number } {
  const names = model.clustering!.taskNames;
  let within = 0;
  let across = 0;
  let nWithin = 0;
  let nAcross = 0;
  names.forEach((a, i) =>
    names.forEach((b, j) => {
      if (i === j) return;
      const z = model.affinity![i]![j]!;
      if (model.groupOf(a) === model.groupOf(b)) {
        within += z;
        nWithin += 1;
      } else {
        across += z;
        nAcross += 1;
      }
    }),
  );
  return { within: within / nWithin, across: across / nAcross };
}

describe('clustered sharing: the model', () => {
  const spec: ModelSpec = {
    tasks: [regression('a'), { name: 'b', kind: 'multiclass', units: 3 }, regression('c')],
    inputShape: [5],
    encoder: { type: 'mlp', units: [6, 4] },
    head: { type: 'mlp', units: [3] },
  };

  it('builds one encoder per group and one head per task on its group', () => {
    const model = clustered({ groups: [['a', 'c'], ['b']] }).build(spec, { seed: 1 }) as ClusteredMultiTaskModel;
    expect(model.taskNames).toEqual(['a', 'b', 'c']);
    expect(model.groups).toEqual([['a', 'c'], ['b']]);
    expect(model.groupIds).toEqual(['group0', 'group1']);
    expect([model.groupOf('a'), model.groupOf('b'), model.groupOf('c')]).toEqual(['group0', 'group1', 'group0']);
    expect(model.affinity).toBeNull();
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([[5, 6], [6], [6, 4], [4], [5, 6], [6], [6, 4], [4]]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[6, 4], [4], [6, 4], [4]]);
    expect(model.taskVariables('b').map((v) => v.shape)).toEqual([[4, 3], [3], [3, 3], [3]]);
    expect(Object.keys(model.getWeights()).sort()).toEqual(
      [
        'clustered/group0/encoder/dense0/bias',
        'clustered/group0/encoder/dense0/kernel',
        'clustered/group0/encoder/dense1/bias',
        'clustered/group0/encoder/dense1/kernel',
        'clustered/group1/encoder/dense0/bias',
        'clustered/group1/encoder/dense0/kernel',
        'clustered/group1/encoder/dense1/bias',
        'clustered/group1/encoder/dense1/kernel',
        ...['a', 'b', 'c'].flatMap((t) => [`clustered/head/${t}/dense0/bias`, `clustered/head/${t}/dense0/kernel`, `clustered/head/${t}/dense1/bias`, `clustered/head/${t}/dense1/kernel`]),
      ].sort(),
    );
    tf.tidy(() => {
      const { features, outputs } = model.apply(tf.ones([2, 5]), { training: false });
      expect(Object.keys(features)).toEqual(['group0', 'group1']);
      expect((features as Record<string, tf.Tensor>).group1!.shape).toEqual([2, 4]);
      expect(outputs.b!.shape).toEqual([2, 3]);
    });
    model.dispose();
  });

  it('one group equals hard sharing; a group of one task equals a single-task hard-sharing model', () => {
    // One group is hard sharing: built from the same seed, the same variables in the same RNG order.
    const one = clustered({ groups: [['a', 'b', 'c']] }).build(spec, { seed: 2 });
    const hard = hardSharing().build(spec, { seed: 2 });
    const x = tf.randomNormal([4, 5], 0, 1, 'float32', 3);
    for (const task of ['a', 'b', 'c']) {
      const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(one.apply(x, { training: false }).outputs[task]!, hard.apply(x, { training: false }).outputs[task]!))).dataSync()[0]);
      expect(gap).toBe(0);
    }
    // Groups of one: task c's output is a single-task model's (its encoder and head) and moves with nothing else.
    const apart = clustered({ groups: [['a'], ['b'], ['c']] }).build(spec, { seed: 2 });
    const single = hardSharing().build({ ...spec, tasks: [spec.tasks[2]!] }, { seed: 5 });
    const weights = apart.getWeights();
    single.setWeights({
      ...Object.fromEntries(Object.entries(weights).filter(([key]) => key.startsWith('clustered/group2/')).map(([key, v]) => [key.replace('clustered/group2/', 'hard/'), v])),
      ...Object.fromEntries(Object.entries(weights).filter(([key]) => key.startsWith('clustered/head/c/')).map(([key, v]) => [key.replace('clustered/', 'hard/'), v])),
    });
    Object.values(weights).forEach((t) => t.dispose());
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(apart.apply(x, { training: false }).outputs.c!, single.apply(x, { training: false }).outputs.c!))).dataSync()[0]);
    expect(gap).toBe(0);
    [one, hard, apart, single, x].forEach((t) => t.dispose());
  });

  it('bad options, specs and inputs raise MtlErrors naming the problem', () => {
    expectMtlError(() => clustered({ grops: 2 } as never), 'BAD_CONFIG', "sharing 'clustered': unknown option 'grops'");
    expectMtlError(() => clustered({ groups: 0 }), 'BAD_CONFIG', "option 'groups' must be a positive integer, got 0");
    expectMtlError(() => clustered({ groups: 'ab' as never }), 'BAD_CONFIG', "option 'groups' must be a number of groups or an array of task-name arrays");
    expectMtlError(() => clustered({ warmup: { batches: [] } }), 'BAD_CONFIG', "'batches' must be a non-empty array");
    const batch = { inputs: tf.zeros([2, 5]), targets: {} };
    expectMtlError(() => clustered({ warmup: { batches: [batch], stepz: 3 } as never }), 'BAD_CONFIG', "option 'warmup': unknown option 'stepz'");
    expectMtlError(() => clustered({ warmup: { batches: [batch], lookaheadRate: -1 } }), 'BAD_CONFIG', "option 'lookaheadRate' must be a positive number, got -1");
    expectMtlError(() => clustered({ warmup: { batches: [batch], optimizer: 'lbfgs' as never } }), 'BAD_CONFIG', "option 'optimizer' must be 'adam' or 'sgd'");
    expectMtlError(() => clustered({ groups: [['a']], warmup: { batches: [batch] } }), 'BAD_CONFIG', "either explicit 'groups'");
    batch.inputs.dispose();

    const build = (groups: string[][], over: Partial<ModelSpec> = {}) => () => clustered({ groups }).build({ ...spec, ...over }, { seed: 0 });
    expectMtlError(build([['a', 'b'], ['x', 'c']]), 'BAD_CONFIG', "option 'groups' names task 'x', which the spec does not have");
    expectMtlError(build([['a', 'b'], ['b', 'c']]), 'BAD_CONFIG', "puts task 'b' in groups 0 and 1");
    expectMtlError(build([['a', 'b']]), 'BAD_CONFIG', "leaves task 'c' in no group");
    expectMtlError(build([['a', 'b', 'c'], []]), 'BAD_CONFIG', 'group 1 is empty');
    expectMtlError(() => clustered().build(spec, { seed: 0 }), 'BAD_CONFIG', "needs 'groups' as task-name arrays, or a 'warmup'");
    expectMtlError(() => clustered({ groups: 2 }).build(spec, { seed: 0 }), 'BAD_CONFIG', "needs 'groups' as task-name arrays, or a 'warmup'");
    expectMtlError(build([['a']], { tasks: [regression('a'), regression('a')] }), 'BAD_CONFIG', "task name 'a' is used twice");
    expectMtlError(build([['a', 'b', 'c']], { encoder: { type: 'mlp', units: [] } }), 'BAD_CONFIG', 'at least one layer');
    const instance = clustered({ groups: [['a', 'b', 'c']] }).build(spec, { seed: 0 }) as ClusteredMultiTaskModel;
    // A LayerModule instance cannot be one encoder per group.
    const encoderInstance = { apply: (x: tf.Tensor) => x, variables: () => [], lastLayerVariables: () => [], outputShape: (s: readonly number[]) => [...s] };
    expectMtlError(build([['a', 'b', 'c']], { encoder: encoderInstance }), 'BAD_CONFIG', 'not a LayerModule instance');
    expectMtlError(() => instance.apply(tf.ones([2, 4]), { training: false }), 'SHAPE_MISMATCH', "inputs of shape [2, 4] do not match the model's input shape [N, 5]");
    expectMtlError(() => instance.decode(tf.ones([2, 4]), tf.ones([2, 5]), { training: false }), 'BAD_DATA', 'features must be a record keyed by group id');
    instance.dispose();
  });

  it('is registered by name, and configured options are checked', () => {
    const registry = createRegistry();
    registry.register(clustered());
    expect(registry.resolve('sharing', 'clustered').name).toBe('clustered');
    const configured = registry.resolve('sharing', { name: 'clustered', options: { groups: [['a', 'b'], ['c']] } });
    const model = configured.build(spec, { seed: 0 }) as ClusteredMultiTaskModel;
    expect(model.groups).toEqual([['a', 'b'], ['c']]);
    model.dispose();
    expectMtlError(() => registry.resolve('sharing', { name: 'clustered', options: { groupz: 2 } }), 'BAD_CONFIG', "unknown option 'groupz'");
  });
});

describe('clustered sharing: addTask', () => {
  it('adds a head on a named group, keeps every old variable, and trains the new task alone', () => {
    const spec: ModelSpec = { tasks: [regression('a'), regression('b'), regression('c')], inputShape: [4], encoder: { type: 'mlp', units: [6, 3], activation: 'tanh' } };
    const model = clustered({ groups: [['a', 'b'], ['c']] }).build(spec, { seed: 3 }) as ClusteredMultiTaskModel;
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 1);
    // + 101: tfjs draws from Math.random when the seed is 0 (falsy).
    const y = (seed: number) => tf.randomNormal([16, 1], 0, 1, 'float32', seed + 101);
    const full = { inputs: x, targets: { a: y(2), b: y(3), c: y(4) } };
    const pre = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 } });
    for (let i = 0; i < 10; i++) pre.step(full);
    pre.dispose();

    expectMtlError(() => model.addTask(regression('d'), { seed: 1 }), 'BAD_CONFIG', "addTask('d') needs options.group, one of group0, group1");
    expectMtlError(() => model.addTask(regression('d'), { seed: 1, group: 'group7' }), 'BAD_CONFIG', "no group 'group7'; groups: group0, group1");
    expectMtlError(() => model.addTask(regression('a'), { seed: 1, group: 'group0' }), 'BAD_CONFIG', "task name 'a' is used twice");

    const before = tf.tidy(() => model.apply(x, { training: false }).outputs);
    const oldWeights = model.getWeights();
    model.addTask(regression('d'), { seed: 11, group: 'group1' });
    expect(model.taskNames).toEqual(['a', 'b', 'c', 'd']);
    expect(model.groups).toEqual([['a', 'b'], ['c', 'd']]);
    expect(model.groupOf('d')).toBe('group1');
    expect(model.taskVariables('d').length).toBe(2);
    const after = tf.tidy(() => model.apply(x, { training: false }).outputs);
    for (const task of ['a', 'b', 'c']) expect(tf.tidy(() => tf.max(tf.abs(tf.sub(after[task]!, before[task]!))).dataSync()[0])).toBe(0);
    expect(after.d!.shape).toEqual([16, 1]);

    // The new task's head reads group1's encoder: its features change d's output, group0's do not.
    const dOut = (features: Record<string, tf.Tensor>) => model.decode(features, x, { training: false }, ['d']).d!;
    tf.tidy(() => {
      const features = model.encode(x, { training: false }) as Record<string, tf.Tensor>;
      const base = dOut(features);
      const moved0 = dOut({ ...features, group0: tf.add(features.group0!, 1) });
      const moved1 = dOut({ ...features, group1: tf.add(features.group1!, 1) });
      expect(tf.max(tf.abs(tf.sub(moved0, base))).dataSync()[0]).toBe(0);
      expect(tf.max(tf.abs(tf.sub(moved1, base))).dataSync()[0]).toBeGreaterThan(0);
    });

    // Training the new task alone (others unlabelled, everything old frozen).
    const none = tf.zeros([16]);
    const dTarget = tf.tidy(() => tf.add(tf.mul(tf.slice(x, [0, 0], [16, 1]), 2), 0.5));
    const onlyD = { inputs: x, targets: { d: dTarget }, masks: { a: none, b: none, c: none } };
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.05 }, freeze: { shared: true, tasks: ['a', 'b', 'c'] } });
    const first = trainer.step(onlyD).losses.d!;
    let last = first;
    for (let i = 0; i < 60; i++) last = trainer.step(onlyD).losses.d!;
    expect(last).toBeLessThan(first * 0.7);
    const newWeights = model.getWeights();
    for (const [key, value] of Object.entries(oldWeights)) {
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(newWeights[key]!, value))).dataSync()[0]), key).toBe(0);
    }
    expect(Object.keys(newWeights).filter((key) => !(key in oldWeights)).sort()).toEqual(['clustered/head/d/dense0/bias', 'clustered/head/d/dense0/kernel']);
    trainer.dispose();
    [...Object.values(oldWeights), ...Object.values(newWeights), ...Object.values(before), ...Object.values(after), x, none, dTarget, ...Object.values(full.targets)].forEach((t) => t.dispose());
    model.dispose();
  });

  it('a one-group model takes a new task without naming the group', () => {
    const model = clustered({ groups: [['a']] }).build({ tasks: [regression('a')], inputShape: [2], encoder: { type: 'mlp', units: [2] } }, { seed: 0 }) as ClusteredMultiTaskModel;
    model.addTask(regression('b'), { seed: 1 });
    expect(model.groups).toEqual([['a', 'b']]);
    model.dispose();
  });
});

describe('lookahead affinity (Fifty et al. 2021)', () => {
  // One shared linear layer z = xW + b (3 → 2), linear heads y_t = z·h_t + c_t, MSE: the lookahead
  // loss has a closed form, computed below in float64 from the model's initial weights.
  const spec: ModelSpec = { tasks: [regression('t1'), regression('t2'), regression('t3')], inputShape: [3], encoder: { type: 'mlp', units: [2], activation: 'linear' } };
  const xs = [
    [1, 0.5, -1],
    [0.2, -0.3, 0.8],
    [-1.5, 1, 0.4],
    [0.7, 0.9, -0.2],
  ];
  const ys: Record<string, number[]> = { t1: [1, -0.5, 0.3, 2], t2: [-1, 0.4, -0.2, -1.8], t3: [0.5, 0.5, -1, 0] };
  const eta = 0.1;
  const makeBatch = (): Batch => ({ inputs: tf.tensor2d(xs), targets: Object.fromEntries(Object.entries(ys).map(([t, v]) => [t, tf.tensor2d(v.map((y) => [y]))])) });

  function handAffinity(weights: Record<string, number[]>): number[][] {
    const W = weights['clustered/group0/encoder/dense0/kernel']!; // [3, 2] row-major
    const b = weights['clustered/group0/encoder/dense0/bias']!;
    const heads = spec.tasks.map((t) => ({ h: weights[`clustered/head/${t.name}/dense0/kernel`]!, c: weights[`clustered/head/${t.name}/dense0/bias`]![0]! }));
    const n = xs.length;
    const residuals = (Wm: number[], bv: number[], t: number) =>
      xs.map((x, k) => {
        const z = [0, 1].map((q) => x[0]! * Wm[q]! + x[1]! * Wm[2 + q]! + x[2]! * Wm[4 + q]! + bv[q]!);
        return z[0]! * heads[t]!.h[0]! + z[1]! * heads[t]!.h[1]! + heads[t]!.c - ys[spec.tasks[t]!.name]![k]!;
      });
    const loss = (Wm: number[], bv: number[], t: number) => residuals(Wm, bv, t).reduce((s, r) => s + r * r, 0) / n;
    return spec.tasks.map((_, i) => {
      // ∂L_i/∂W[p][q] = (2/N) Σ_k r_k x_kp h_i[q];  ∂L_i/∂b[q] = (2/N) Σ_k r_k h_i[q].
      const r = residuals(W, b, i);
      const gW = W.map((_, index) => {
        const p = Math.floor(index / 2);
        const q = index % 2;
        return (2 / n) * r.reduce((s, rk, k) => s + rk * xs[k]![p]!, 0) * heads[i]!.h[q]!;
      });
      const gb = [0, 1].map((q) => (2 / n) * r.reduce((s, rk) => s + rk, 0) * heads[i]!.h[q]!);
      const W2 = W.map((w, index) => w - eta * gW[index]!);
      const b2 = b.map((v, q) => v - eta * gb[q]!);
      return spec.tasks.map((_, j) => 1 - loss(W2, b2, j) / loss(W, b, j));
    });
  }

  function initialWeights(seed: number): Record<string, number[]> {
    const model = clustered({ groups: [['t1', 't2', 't3']] }).build(spec, { seed });
    const weights = model.getWeights();
    const values = Object.fromEntries(Object.entries(weights).map(([key, t]) => [key, Array.from(t.dataSync())]));
    Object.values(weights).forEach((t) => t.dispose());
    model.dispose();
    return values;
  }

  it('one step of the warm-up gives 1 − L_j(θ_s − η∇L_i) / L_j(θ_s), as computed by hand', async () => {
    const expected = handAffinity(initialWeights(4));
    const batch = makeBatch();
    const model = clustered({ groups: 1, warmup: { batches: [batch], steps: 1, lookaheadRate: eta } }).build(spec, { seed: 4 }) as ClusteredMultiTaskModel;
    const measured = model.affinity!;
    console.log(`one-step affinity, hand vs measured:\n${expected.map((row, i) => row.map((z, j) => `${z.toFixed(6)}/${measured[i]![j]!.toFixed(6)}`).join('  ')).join('\n')}`);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(measured[i]![j]!).toBeCloseTo(expected[i]![j]!, 4);
    // A task's own lookahead step lowers its own loss.
    for (let i = 0; i < 3; i++) expect(measured[i]![i]!).toBeGreaterThan(0);
    expect(expected.flat().some((z) => z < 0)).toBe(true); // the example has conflicts, so signs are tested too
    expect(model.clustering!.pairSteps).toEqual([
      [1, 1, 1],
      [1, 1, 1],
      [1, 1, 1],
    ]);
    expect(model.groups).toEqual([['t1', 't2', 't3']]);
    model.dispose();

    // The same through a DataSource (measureTaskAffinity disposes what it reads).
    const source: DataSource = {
      async *[Symbol.asyncIterator]() {
        yield makeBatch();
      },
    };
    const before = tf.memory().numTensors;
    const result = await measureTaskAffinity(spec, source, { seed: 4, lookaheadRate: eta, groups: 3 });
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(result.affinity[i]![j]!).toBeCloseTo(expected[i]![j]!, 4);
    expect(result.taskNames).toEqual(['t1', 't2', 't3']);
    expect(result.steps).toBe(1);
    disposeBatches([batch]);
  });

  it('a task unlabelled in a batch gives and receives no affinity at that step', () => {
    const full = makeBatch();
    const partial = makeBatch();
    partial.masks = { t3: tf.zeros([4]) };
    partial.targets.t3!.dispose();
    delete partial.targets.t3;
    const model = clustered({ groups: 2, warmup: { batches: [full, partial], steps: 2, lookaheadRate: eta } }).build(spec, { seed: 4 }) as ClusteredMultiTaskModel;
    expect(model.clustering!.pairSteps).toEqual([
      [2, 2, 1],
      [2, 2, 1],
      [1, 1, 1],
    ]);
    // Step 1 (full batch, initial weights) is the only one with t3: its Ẑ entries are step 1's Z.
    const expected = handAffinity(initialWeights(4));
    expect(model.affinity![0]![2]!).toBeCloseTo(expected[0]![2]!, 4);
    expect(model.affinity![2]![1]!).toBeCloseTo(expected[2]![1]!, 4);
    model.dispose();
    disposeBatches([full, partial]);
  });

  it('measureTaskAffinity checks its options', async () => {
    const source: DataSource = { async *[Symbol.asyncIterator]() {} };
    await expect(measureTaskAffinity(spec, source, { stepz: 1 } as never)).rejects.toThrow("measureTaskAffinity: unknown option 'stepz'");
    await expect(measureTaskAffinity(spec, source, { epochs: 0 })).rejects.toThrow("option 'epochs' must be a positive integer, got 0");
    await expect(measureTaskAffinity(spec, source)).rejects.toThrow('the source gave no batch');
  });
});

describe('acceptance: clustering recovers two groups of related tasks that conflict across groups', () => {
  const spec = (encoder: ModelSpec['encoder']): ModelSpec => ({ tasks: ['a1', 'a2', 'b1', 'b2'].map(regression), inputShape: [8], encoder });
  const warmup = (batches: Batch[]) => ({ batches, steps: 150, learningRate: 0.02 });

  it('teachers w (a1, a2) and v ⟂ w (b1, b2), competing for a one-unit shared feature', () => {
    const batches = teacherBatches(
      1,
      (w, rng) => {
        const r = Array.from({ length: 8 }, () => rng.normal());
        const v = r.map((value, i) => value - (dot(r, w) / dot(w, w)) * w[i]!);
        return { a1: w, a2: w, b1: v, b2: v };
      },
      (z) => z,
    );
    const model = clustered({ groups: 2, warmup: warmup(batches) }).build(spec({ type: 'mlp', units: [1], activation: 'linear' }), { seed: 0 }) as ClusteredMultiTaskModel;
    printAffinity('orthogonal teachers, linear bottleneck', model);
    expect(model.groups).toEqual([
      ['a1', 'a2'],
      ['b1', 'b2'],
    ]);
    const { within, across } = groupMeans(model);
    expect(within).toBeGreaterThan(0);
    expect(across).toBeLessThan(0);
    model.dispose();
    disposeBatches(batches);
  });

  // Linear teachers w and −w do not conflict for a shared encoder with linear heads (a head absorbs
  // the sign: the two groups' gradients on the encoder agree); through a ReLU they do.
  it('teachers w (a1, a2) and −w (b1, b2) through a ReLU, y = relu(±w·x), with a one-unit ELU encoder', () => {
    const batches = teacherBatches(
      1,
      (w) => ({ a1: w, a2: w, b1: w.map((v) => -v), b2: w.map((v) => -v) }),
      (z) => Math.max(z, 0),
    );
    const model = clustered({ groups: 2, warmup: warmup(batches) }).build(spec({ type: 'mlp', units: [1], activation: 'elu' }), { seed: 0 }) as ClusteredMultiTaskModel;
    printAffinity('relu(w·x) vs relu(−w·x), ELU bottleneck', model);
    expect(model.groups).toEqual([
      ['a1', 'a2'],
      ['b1', 'b2'],
    ]);
    const { within, across } = groupMeans(model);
    expect(within).toBeGreaterThan(0);
    expect(across).toBeLessThan(0);
    model.dispose();
    disposeBatches(batches);
  });
});
