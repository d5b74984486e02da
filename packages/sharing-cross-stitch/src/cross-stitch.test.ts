import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  buildHead,
  DenseStack,
  isMtlError,
  Rng,
  Trainer,
  uniqueScope,
  type ApplyOptions,
  type Batch,
  type Features,
  type Inputs,
  type LayerModule,
  type ModelSpec,
  type MultiTaskModel,
  type TaskSpec,
} from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { crossStitch } from './cross-stitch';

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

function read(tensors: tf.Tensor[]): Float32Array[] {
  const out = tensors.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(tensors);
  return out;
}

function maxGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let gap = 0;
  for (let i = 0; i < a.length; i++) gap = Math.max(gap, Math.abs(a[i]! - b[i]!));
  return gap;
}

function batchFor(seed: number, names: readonly string[] = ['a', 'b']): Batch {
  const targets: Record<string, tf.Tensor> = {};
  if (names.includes('a')) targets.a = tf.randomNormal([8, 2], 0, 1, 'float32', seed + 1);
  if (names.includes('b')) targets.b = tf.tensor1d(Array.from({ length: 8 }, (_, i) => (i + seed) % 3), 'int32');
  if (names.includes('c')) targets.c = tf.randomNormal([8, 1], 0, 1, 'float32', seed + 2);
  // + 101: tfjs draws from Math.random when the seed is 0 (falsy).
  return { inputs: tf.randomNormal([8, 4], 0, 1, 'float32', seed + 101), targets };
}

function disposeBatch(batch: Batch): void {
  tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets), ...Object.values(batch.masks ?? {})] as tf.Tensor[]);
}

/**
 * The simpler equivalent model of test (a): one task, one plain tower (core's DenseStack, no
 * cross-stitch code at all) and its head.
 */
class SingleTowerModel implements MultiTaskModel {
  readonly tasks: readonly TaskSpec[];
  readonly taskNames: readonly string[];
  readonly tower: DenseStack;
  readonly head: LayerModule;

  constructor(task: TaskSpec, inputSize: number, units: number[]) {
    this.tasks = [task];
    this.taskNames = [task.name];
    const rng = Rng.fromSeed(123);
    const scope = uniqueScope('reference');
    this.tower = new DenseStack({ inputSize, units, activation: 'relu', outputActivation: 'relu', scope: `${scope}/tower`, rng });
    this.head = buildHead(undefined, { featureShape: [units[units.length - 1]!], units: task.units, rng, scope: `${scope}/head`, what: 'reference head' });
  }
  encode(inputs: Inputs, options: ApplyOptions): Features {
    return this.tower.apply(inputs as tf.Tensor, options);
  }
  decode(features: Features, _inputs: Inputs, options: ApplyOptions): Record<string, tf.Tensor> {
    return { [this.taskNames[0]!]: this.head.apply(features as tf.Tensor, options) };
  }
  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }
  sharedVariables() {
    return this.tower.variables();
  }
  lastSharedVariables() {
    return this.tower.lastLayerVariables();
  }
  taskVariables() {
    return this.head.variables();
  }
  getWeights(): tf.NamedTensorMap {
    return {};
  }
  setWeights(): void {}
  dispose(): void {
    this.tower.dispose();
    this.head.dispose?.();
  }
}

describe('cross-stitch', () => {
  it('builds one tower per task and one α per layer, initialised near identity', () => {
    const threeTasks = [...tasks, { name: 'c', kind: 'binary' as const, units: 1 }];
    const model = crossStitch().build({ ...spec, tasks: threeTasks }, { seed: 1 });
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([
      ...[0, 1, 2].flatMap(() => [[4, 5], [5], [5, 3], [3]]),
      [3, 3],
      [3, 3],
    ]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[5, 3], [3], [5, 3], [3], [5, 3], [3], [3, 3]]);
    expect(model.lastSharedVariables()[6]).toBe(model.alphaVariables()[1]);
    // self 0.9 on the diagonal, (1 − 0.9)/(3 − 1) = 0.05 elsewhere.
    for (const alpha of read(model.alphaValues())) {
      expect(maxGap(alpha, [0.9, 0.05, 0.05, 0.05, 0.9, 0.05, 0.05, 0.05, 0.9])).toBeLessThan(1e-7);
    }
    expect(Object.keys(model.getWeights())).toEqual(expect.arrayContaining(['cross-stitch/alpha/layer0', 'cross-stitch/tower/c/dense1/bias']));
    tf.tidy(() => {
      const { features, outputs } = model.apply(tf.ones([2, 4]), { training: false });
      expect(Object.keys(features).sort()).toEqual(['a', 'b', 'c']);
      expect(outputs.b!.shape).toEqual([2, 3]);
    });
    model.dispose();
    const fixed = crossStitch({ alpha: { self: 0.5, trainable: false } }).build(spec, { seed: 1 });
    expect(fixed.alphaVariables()).toEqual([]);
    expect(fixed.sharedVariables().length).toBe(8);
    expect(fixed.lastSharedVariables().length).toBe(4);
    expect(Object.keys(fixed.getWeights()).some((k) => k.includes('alpha'))).toBe(false);
    for (const alpha of read(fixed.alphaValues())) expect(Array.from(alpha)).toEqual([0.5, 0.5, 0.5, 0.5]);
    fixed.dispose();
  });

  it('(a) with α fixed to the identity it equals independent towers, before and after SGD training', () => {
    const steps = 10;
    const optimizer = { name: 'sgd' as const, learningRate: 0.1 };
    const model = crossStitch({ alpha: { self: 1, trainable: false } }).build(spec, { seed: 5 });
    const references = tasks.map((task) => {
      const reference = new SingleTowerModel(task, 4, [5, 3]);
      const mine = [...model.towerVariables(task.name), ...model.taskVariables(task.name)];
      const theirs = [...reference.sharedVariables(), ...reference.taskVariables()];
      expect(theirs.map((v) => v.shape)).toEqual(mine.map((v) => v.shape));
      theirs.forEach((v, i) => v.assign(mine[i]!));
      return reference;
    });
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 77);
    const compareOutputs = (): number => {
      const ours = tf.tidy(() => model.apply(x, { training: false }).outputs);
      let gap = 0;
      tasks.forEach((task, i) => {
        const theirs = tf.tidy(() => references[i]!.apply(x, { training: false }).outputs[task.name]!);
        gap = Math.max(gap, maxGap(ours[task.name]!.dataSync(), theirs.dataSync()));
        theirs.dispose();
      });
      tf.dispose(Object.values(ours));
      return gap;
    };
    expect(compareOutputs()).toBe(0);

    const trainer = new Trainer({ model, optimizer });
    const referenceTrainers = references.map((reference) => new Trainer({ model: reference, optimizer }));
    for (let step = 0; step < steps; step++) {
      const batch = batchFor(30 + step);
      trainer.step(batch);
      tasks.forEach((task, i) => referenceTrainers[i]!.step({ inputs: batch.inputs, targets: { [task.name]: batch.targets[task.name] } }));
      disposeBatch(batch);
    }
    let variableGap = 0;
    let moved = 0;
    tasks.forEach((task, i) => {
      const mine = [...model.towerVariables(task.name), ...model.taskVariables(task.name)];
      const theirs = [...references[i]!.sharedVariables(), ...references[i]!.taskVariables()];
      mine.forEach((v, k) => (variableGap = Math.max(variableGap, maxGap(v.dataSync(), theirs[k]!.dataSync()))));
    });
    const outputGap = compareOutputs();
    for (const alpha of read(model.alphaValues())) expect(Array.from(alpha)).toEqual([1, 0, 0, 1]);
    const fresh = crossStitch({ alpha: { self: 1, trainable: false } }).build(spec, { seed: 5 });
    moved = maxGap(fresh.towerVariables('a')[0]!.dataSync(), model.towerVariables('a')[0]!.dataSync());
    fresh.dispose();
    console.log(
      `cross-stitch (a): α = I fixed, ${steps} SGD steps: max |cross-stitch − independent towers| variables ${variableGap.toExponential(2)}, outputs ${outputGap.toExponential(2)} (tower a moved by ${moved.toFixed(3)})`,
    );
    expect(variableGap).toBeLessThanOrEqual(1e-6);
    expect(outputGap).toBeLessThanOrEqual(1e-6);
    expect(moved).toBeGreaterThan(1e-3);
    trainer.dispose();
    referenceTrainers.forEach((t) => t.dispose());
    references.forEach((r) => r.dispose());
    model.dispose();
    x.dispose();
  });

  it('(b) mixes the towers as x̃_t = Σ_s α_ts x_s: a 2-task, 1-layer example worked by hand', () => {
    const model = crossStitch().build(
      {
        tasks: [
          { name: 'a', kind: 'regression', units: 1 },
          { name: 'b', kind: 'regression', units: 1 },
        ],
        inputShape: [2],
        encoder: { type: 'mlp', units: [2], activation: 'relu' },
      },
      { seed: 0 },
    );
    const weights: tf.NamedTensorMap = {
      'cross-stitch/tower/a/dense0/kernel': tf.tensor2d([[1, 0], [0, 1]]),
      'cross-stitch/tower/a/dense0/bias': tf.tensor1d([0, 0]),
      'cross-stitch/tower/b/dense0/kernel': tf.tensor2d([[2, -1], [1, 1]]),
      'cross-stitch/tower/b/dense0/bias': tf.tensor1d([0.5, 0]),
      'cross-stitch/alpha/layer0': tf.tensor2d([[0.7, 0.3], [0.2, 0.8]]),
      'cross-stitch/head/a/dense0/kernel': tf.tensor2d([[1], [-1]]),
      'cross-stitch/head/a/dense0/bias': tf.tensor1d([0.25]),
      'cross-stitch/head/b/dense0/kernel': tf.tensor2d([[0.5], [2]]),
      'cross-stitch/head/b/dense0/bias': tf.tensor1d([0]),
    };
    model.setWeights(weights);
    tf.dispose(Object.values(weights));
    const x = tf.tensor2d([[1, 2], [-1, 0.5]]);
    // By hand: x_a = relu(x·I) = [[1, 2], [0, 0.5]];
    //          x·W_b + b_b = [[4.5, 1], [-1, 1.5]], x_b = relu(·) = [[4.5, 1], [0, 1.5]].
    // x̃_a = 0.7 x_a + 0.3 x_b = [[2.05, 1.7], [0, 0.8]];  x̃_b = 0.2 x_a + 0.8 x_b = [[3.8, 1.2], [0, 1.3]].
    // Heads: y_a = x̃_a·[1, −1] + 0.25 = [0.6, −0.55];  y_b = x̃_b·[0.5, 2] = [4.3, 2.6].
    const { features, outputs } = model.apply(x, { training: false });
    const f = features as Record<string, tf.Tensor>;
    expect(maxGap(f.a!.dataSync(), [2.05, 1.7, 0, 0.8])).toBeLessThan(1e-6);
    expect(maxGap(f.b!.dataSync(), [3.8, 1.2, 0, 1.3])).toBeLessThan(1e-6);
    expect(maxGap(outputs.a!.dataSync(), [0.6, -0.55])).toBeLessThan(1e-6);
    expect(maxGap(outputs.b!.dataSync(), [4.3, 2.6])).toBeLessThan(1e-6);
    tf.dispose([...Object.values(f), ...Object.values(outputs)]);

    // (c) α receives the gradient of the mix: for L = Σ_n y_a[n], ∂L/∂x̃_a[n,k] = H_a[k] = (1, −1), so
    // ∂L/∂α_{a,s} = Σ_n Σ_k H_a[k]·x_s[n,k]: s = a: (1 − 2) + (0 − 0.5) = −1.5; s = b: (4.5 − 1) + (0 − 1.5) = 2;
    // and row b does not touch y_a: ∂L/∂α_{b,·} = 0.
    const alpha = model.alphaVariables()[0]!;
    const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }).outputs.a!) as tf.Scalar, [alpha]);
    expect(maxGap(grads[alpha.name]!.dataSync(), [-1.5, 2, 0, 0])).toBeLessThan(1e-6);
    tf.dispose([value, ...Object.values(grads), x]);
    model.dispose();
  });

  it('(c) α receives a gradient from the engine and moves when trainable; stays put when not', () => {
    for (const trainable of [true, false]) {
      const model = crossStitch({ alpha: { trainable } }).build(spec, { seed: 2 });
      const before = read(model.alphaValues());
      const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.1 } });
      const batch = batchFor(3);
      if (trainable) {
        const prepared = trainer.engine.prepare(batch);
        const gradients = trainer.engine.taskGradients(prepared, 'shared');
        const alphaNames = model.alphaVariables().map((v) => v.name);
        const norms = gradients.activeTasks.map((_, k) => {
          const row = gradients.row(k);
          const norm = gradients.names.reduce((sum, name, i) => (alphaNames.includes(name) ? sum + tf.tidy(() => tf.sum(tf.square(row[i]!)).dataSync()[0]!) : sum), 0);
          tf.dispose(row);
          return norm;
        });
        console.log(`cross-stitch (c): ‖∂L_t/∂α‖² at the 'shared' site: ${gradients.activeTasks.map((t, i) => `${t}: ${norms[i]!.toExponential(3)}`).join(', ')}`);
        expect(norms.every((n) => n > 0)).toBe(true);
        gradients.dispose();
        prepared.dispose();
      }
      for (let step = 0; step < 10; step++) trainer.step(batch);
      const after = read(model.alphaValues());
      const moved = Math.max(...after.map((alpha, l) => maxGap(alpha, before[l]!)));
      if (trainable) {
        console.log(`cross-stitch (c): after 10 SGD steps, max |Δα| = ${moved.toExponential(3)}; α^1 = [${Array.from(after[1]!, (v) => v.toFixed(4)).join(', ')}]`);
        expect(moved).toBeGreaterThan(1e-4);
      } else expect(moved).toBe(0);
      disposeBatch(batch);
      trainer.dispose();
      model.dispose();
    }
  });

  it('addTask: a tower, a head and α grown with identity entries; old tasks unchanged; trains with the old ones frozen', () => {
    const model = crossStitch().build(spec, { seed: 3 });
    const warm = new Trainer({ model, optimizer: { name: 'sgd', learningRate: 0.05 } });
    for (let step = 0; step < 5; step++) {
      const batch = batchFor(step);
      warm.step(batch);
      disposeBatch(batch);
    }
    warm.dispose();
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 40);
    const before = tf.tidy(() => model.apply(x, { training: false }).outputs);
    const oldAlphas = read(model.alphaValues());
    const old = values(model.getWeights());

    model.addTask({ name: 'c', kind: 'regression', units: 1 }, { seed: 9 });
    expect(model.taskNames).toEqual(['a', 'b', 'c']);
    expect(model.towerVariables('c').map((v) => v.shape)).toEqual([[4, 5], [5], [5, 3], [3]]);
    const after = tf.tidy(() => model.apply(x, { training: false }).outputs);
    for (const name of ['a', 'b']) expect(maxGap(after[name]!.dataSync(), before[name]!.dataSync())).toBe(0);
    expect(after.c!.shape).toEqual([6, 1]);
    const grownAlphas = read(model.alphaValues());
    grownAlphas.forEach((alpha, l) => {
      const o = oldAlphas[l]!;
      expect(Array.from(alpha)).toEqual([o[0], o[1], 0, o[2], o[3], 0, 0, 0, 1]);
    });

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
    for (const [key, value] of Object.entries(old)) {
      if (key.includes('/alpha/')) continue;
      expect(maxGap(trained[key]!, value)).toBe(0);
    }
    read(model.alphaValues()).forEach((alpha, l) => expect(Array.from(alpha)).toEqual(Array.from(grownAlphas[l]!)));
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    trainer.dispose();
    tf.dispose([x, ...Object.values(before), ...Object.values(after)]);
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
    bad(() => crossStitch({ alpha: { self: 1.5 } }), 'BAD_CONFIG', "option 'alpha.self' must be a number in [0, 1], got 1.5");
    bad(() => crossStitch({ alpha: { trainable: 'yes' as never } }), 'BAD_CONFIG', /'alpha.trainable' must be true or false/);
    bad(() => crossStitch({ alpha: { selff: 0.5 } as never }), 'BAD_CONFIG', "sharing 'cross-stitch' option 'alpha': unknown option 'selff'");
    bad(() => crossStitch({ gamma: 1 } as never), 'BAD_CONFIG', "sharing 'cross-stitch': unknown option 'gamma'");
    const build = (patch: Partial<ModelSpec>) => () => crossStitch().build({ ...spec, ...patch } as ModelSpec, { seed: 0 });
    bad(build({ encoder: { type: 'conv', blocks: [{ filters: 2 }] } }), 'BAD_CONFIG', /spec.encoder must be \{ type: 'mlp', units \}, because a cross-stitch unit sits between the towers' layers/);
    bad(build({ encoder: { type: 'factory', create: () => ({}) as never } }), 'BAD_CONFIG', /must be \{ type: 'mlp', units \}.*got "factory"/);
    bad(build({ encoder: { type: 'mlp', units: [] } }), 'BAD_CONFIG', /at least one layer/);
    bad(build({ encoder: { type: 'mlp', units: [4], activation: 'swish' as never } }), 'BAD_CONFIG', "encoder.activation 'swish' is unknown");
    bad(build({ tasks: [tasks[1]!, tasks[1]!] }), 'BAD_CONFIG', "cross-stitch: task name 'b' is used twice");
    const model = crossStitch().build(spec, { seed: 0 });
    bad(() => model.apply(tf.ones([2, 5]), { training: false }), 'SHAPE_MISMATCH', "cross-stitch: inputs of shape [2, 5] do not match the model's input shape [N, 4]");
    bad(() => model.addTask({ name: 'a', kind: 'regression', units: 1 }, { seed: 0 }), 'BAD_CONFIG', "task name 'a' is used twice");
    model.dispose();
  });
});
