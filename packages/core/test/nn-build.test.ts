import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/setup-gradients';
import { ConvStack, layerNorm } from '../src/nn/conv';
import { buildHead, buildModule } from '../src/nn/build';
import { WeightTable } from '../src/nn/weights';
import { DenseStack } from '../src/nn/mlp';
import { uniqueScope, variableFrom } from '../src/nn/init';
import { Rng } from '../src/rng';
import { isMtlError } from '../src/errors';
import { Trainer } from '../src/trainer';
import { disposeAll, fixedBatch, fixedGramian, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isMtlError(error) ? `${error.code}: ${error.message}` : `not an MtlError: ${String(error)}`;
  }
  return undefined;
}

describe('ConvStack', () => {
  it('gives the block and output shapes it declares, for [H, W, C] and [H, W] inputs', () => {
    const stack = new ConvStack({
      spec: { type: 'conv', blocks: [{ filters: 4 }, { filters: 6, kernelSize: 5, norm: 'layer', pool: 'avg' }, { filters: 3, pool: 'none', padding: 'valid' }] },
      inputShape: [12, 12],
      scope: uniqueScope('conv-test'),
      rng: Rng.fromSeed(1),
    });
    // 12 → pool 6 → pool 3 → valid 3×3 kernel 1; filters 4, 6, 3.
    expect(stack.blockShapes()).toEqual([[6, 6, 4], [3, 3, 6], [1, 1, 3]]);
    expect(stack.outputShape([12, 12])).toEqual([3]);
    tf.tidy(() => {
      const maps = stack.applyBlocks(tf.randomNormal([2, 12, 12]), { training: true });
      expect(maps.map((m) => m.shape)).toEqual([[2, 6, 6, 4], [2, 3, 3, 6], [2, 1, 1, 3]]);
      expect(stack.apply(tf.randomNormal([2, 12, 12, 1]), { training: true }).shape).toEqual([2, 3]);
    });
    // conv kernel, bias per block; γ, β on the normalised block.
    expect(stack.variables().map((v) => v.shape)).toEqual([[3, 3, 1, 4], [4], [5, 5, 4, 6], [6], [6], [6], [3, 3, 6, 3], [3]]);
    expect(stack.lastLayerVariables().map((v) => v.shape)).toEqual([[3, 3, 6, 3], [3]]);
    stack.dispose();
  });

  it('matches tf.conv2d + relu + maxPool computed directly, and adds dense layers after flattening', () => {
    const stack = new ConvStack({ spec: { type: 'conv', blocks: [{ filters: 2 }], dense: [3] }, inputShape: [4, 4, 1], scope: uniqueScope('conv-ref'), rng: Rng.fromSeed(2) });
    const [kernel, bias, denseKernel, denseBias] = stack.variables();
    const x = tf.randomNormal([3, 4, 4, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const gap = tf.tidy(() => {
      const conv = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, kernel as unknown as tf.Tensor4D, 1, 'same'), bias!)) as tf.Tensor4D, 2, 2, 'valid');
      const reference = tf.relu(tf.add(tf.matMul(tf.reshape(conv, [3, 8]), denseKernel as unknown as tf.Tensor2D), denseBias!));
      return tf.max(tf.abs(tf.sub(reference, stack.apply(x, { training: false })))).dataSync()[0]!;
    });
    expect(gap).toBeLessThan(1e-6);
    x.dispose();
    stack.dispose();
  });

  it('layer norm: (x − μ)/√(σ² + 1e-5)·γ + β over each example, worked by hand', () => {
    // One example, 1×2 map, 2 channels: values 1, 2, 3, 4 → μ = 2.5, σ² = 1.25.
    const out = tf.tidy(() => layerNorm(tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]), tf.tensor1d([2, 1]), tf.tensor1d([0, 10])).dataSync());
    const s = Math.sqrt(1.25 + 1e-5);
    const expected = [(2 * (1 - 2.5)) / s, (2 - 2.5) / s + 10, (2 * (3 - 2.5)) / s, (4 - 2.5) / s + 10];
    Array.from(out).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('refuses bad specs with BAD_CONFIG and wrong inputs with SHAPE_MISMATCH', () => {
    const make = (spec: unknown, inputShape: number[] = [8, 8, 1]) => () => new ConvStack({ spec: spec as never, inputShape, scope: uniqueScope('bad'), rng: Rng.fromSeed(0) });
    expect(codeOf(make({ type: 'conv', blocks: [] }))).toMatch(/^BAD_CONFIG: .*at least one block/);
    expect(codeOf(make({ type: 'conv', blocks: [{ filters: 0 }] }))).toMatch(/^BAD_CONFIG: .*block 0 filters/);
    expect(codeOf(make({ type: 'conv', blocks: [{ filters: 2, pool: 'median' }] }))).toMatch(/^BAD_CONFIG: .*pool must be/);
    expect(codeOf(make({ type: 'conv', blocks: [{ filters: 2 }] }, [8]))).toMatch(/^BAD_CONFIG: .*input shape must be/);
    const before = tf.memory().numTensors;
    expect(codeOf(make({ type: 'conv', blocks: [{ filters: 2 }, { filters: 2 }, { filters: 2 }] }, [4, 4, 1]))).toMatch(/^BAD_CONFIG: .*shrinks/);
    expect(tf.memory().numTensors).toBe(before);
    const stack = make({ type: 'conv', blocks: [{ filters: 2 }] })() as ConvStack;
    expect(codeOf(() => tf.tidy(() => stack.apply(tf.zeros([2, 7, 8, 1]), { training: false })))).toMatch(/^SHAPE_MISMATCH: .*\[8, 8, 1\]/);
    stack.dispose();
  });
});

describe('buildModule and buildHead', () => {
  it('builds MLP, conv and factory specs, and refuses an instance where copies are needed', () => {
    const rng = Rng.fromSeed(3);
    const mlp = buildModule({ type: 'mlp', units: [4, 2] }, { inputShape: [3], rng, scope: uniqueScope('b'), what: 'test encoder' });
    expect(mlp.outputShape([3])).toEqual([2]);
    const conv = buildModule({ type: 'conv', blocks: [{ filters: 2 }] }, { inputShape: [4, 4, 1], rng, scope: uniqueScope('b'), what: 'test encoder' });
    expect(conv.outputShape([4, 4, 1])).toEqual([8]);
    const seeds: number[] = [];
    const factory = {
      type: 'factory' as const,
      create: ({ seed, scope, inputShape }: { seed: number; scope: string; inputShape: readonly number[] }) => {
        seeds.push(seed);
        return new DenseStack({ inputSize: inputShape[0]!, units: [5], activation: 'relu', outputActivation: 'relu', scope, rng: Rng.fromSeed(seed) });
      },
    };
    const fromFactory = buildModule(factory, { inputShape: [3], rng, scope: uniqueScope('b'), what: 'test encoder' });
    expect(fromFactory.outputShape([3])).toEqual([5]);
    expect(seeds).toHaveLength(1);
    expect(codeOf(() => buildModule(mlp, { inputShape: [3], rng, scope: 's', what: 'each tower', allowInstance: false }))).toMatch(/^BAD_CONFIG: each tower: needs one module per copy/);
    expect(codeOf(() => buildModule({ type: 'rnn' } as never, { inputShape: [3], rng, scope: 's', what: 'the encoder' }))).toMatch(/^BAD_CONFIG: the encoder: expected/);
    // A factory head gets a linear output layer `units` wide after its hidden module.
    const head = buildHead(factory, { featureShape: [2], units: 3, rng, scope: uniqueScope('h'), what: 'head' });
    expect(head.outputShape([2])).toEqual([3]);
    expect(head.variables().map((v) => v.shape)).toEqual([[2, 5], [5], [5, 3], [3]]);
    expect(head.lastLayerVariables().map((v) => v.shape)).toEqual([[5, 3], [3]]);
    [mlp, conv, fromFactory, head].forEach((m) => m.dispose?.());
  });
});

describe('WeightTable', () => {
  it('keys own variables by local name and foreign ones by group and position; write checks before it assigns', () => {
    const scope = uniqueScope('table');
    const own = variableFrom([1, 2], [2], `${scope}/encoder/w`);
    const foreign = variableFrom([3], [1], 'dense_Dense7/kernel');
    const table = new WeightTable(scope, { encoder: [own], 'head/a': [foreign] });
    expect(table.keys()).toEqual([scope.replace(/^mtl\d+\//, '') + '/encoder/w', 'head/a/#0']);
    const saved = table.read();
    const bad = { ...saved, 'head/a/#0': tf.tensor1d([1, 2]) };
    own.assign(tf.tensor1d([7, 7]));
    expect(codeOf(() => table.write(bad))).toMatch(/^BAD_CHECKPOINT: weight 'head\/a\/#0' has shape \[2\]/);
    expect(Array.from(own.dataSync())).toEqual([7, 7]); // nothing assigned
    table.write(saved);
    expect(Array.from(own.dataSync())).toEqual([1, 2]);
    disposeAll([...Object.values(saved), bad['head/a/#0']!, own, foreign]);
  });
});

describe('Trainer freeze', () => {
  const runs: [string, () => ConstructorParameters<typeof Trainer>[0]['weighting'], ('shared' | 'last-shared' | 'features' | undefined)[]][] = [
    ['loss level (EW)', () => undefined, [undefined]],
    ['gramian', () => fixedGramian([0.5, 0.3, 0.2]), ['shared', 'last-shared', 'features']],
  ];
  for (const [label, weighting, sites] of runs) {
    for (const site of sites) {
      it(`${label}${site ? ` at '${site}'` : ''}: frozen shared variables and heads do not move; the others do`, () => {
        const model = tinyModel(TASKS, { seed: 3 });
        const frozenTask = TASKS[0]!.name;
        const freeTask = TASKS[1]!.name;
        const trainer = new Trainer({ model, weighting: weighting(), site, freeze: { shared: true, tasks: [frozenTask] }, optimizer: { name: 'sgd', learningRate: 0.1 } });
        const snapshot = (vars: tf.Variable[]) => vars.map((v) => Array.from(v.dataSync()));
        const shared = snapshot(model.sharedVariables());
        const frozenHead = snapshot(model.taskVariables(frozenTask));
        const freeHead = snapshot(model.taskVariables(freeTask));
        const batch = fixedBatch();
        for (let i = 0; i < 3; i++) trainer.step(batch);
        expect(snapshot(model.sharedVariables())).toEqual(shared);
        expect(snapshot(model.taskVariables(frozenTask))).toEqual(frozenHead);
        expect(snapshot(model.taskVariables(freeTask))).not.toEqual(freeHead);
        // `except` keeps a named shared variable trainable under `shared: true`.
        const keep = model.sharedVariables()[0]!;
        const excepted = new Trainer({ model, weighting: weighting(), site, freeze: { shared: true, except: [keep.name] }, optimizer: { name: 'sgd', learningRate: 0.1 } });
        const kept = Array.from(keep.dataSync());
        const others = snapshot(model.sharedVariables().slice(1));
        excepted.step(batch);
        expect(Array.from(keep.dataSync())).not.toEqual(kept);
        expect(snapshot(model.sharedVariables().slice(1))).toEqual(others);
        excepted.dispose();
        disposeAll([batch.inputs as tf.Tensor, ...(Object.values(batch.targets) as tf.Tensor[]), ...(Object.values(batch.masks ?? {}) as tf.Tensor[])]);
        trainer.dispose();
        model.dispose();
      });
    }
  }
});

describe('the reported objective', () => {
  it("includes the model's penalty at the loss level and at every gradient site", () => {
    const weights = [0.5, 0.3, 0.2];
    for (const site of [undefined, 'shared', 'last-shared', 'features'] as const) {
      const model = tinyModel(TASKS, { seed: 5, penalty: 0.01 });
      const penalty = tf.tidy(() => model.penalty!().dataSync()[0]!);
      const trainer = new Trainer({ model, weighting: site ? fixedGramian(weights) : undefined, site, optimizer: { name: 'sgd', learningRate: 0.01 } });
      const batch = fixedBatch();
      const report = trainer.step(batch);
      const weighted = TASKS.reduce((sum, task, i) => sum + (site ? weights[i]! : 1) * report.losses[task.name]!, 0);
      expect(penalty).toBeGreaterThan(0.01);
      expect(report.loss).toBeCloseTo(weighted + penalty, 5);
      disposeAll([batch.inputs as tf.Tensor, ...(Object.values(batch.targets) as tf.Tensor[])]);
      trainer.dispose();
      model.dispose();
    }
  });
});
