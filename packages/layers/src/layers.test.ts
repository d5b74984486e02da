import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { isMtlError, Rng, Trainer, type MtlErrorCode, type TaskSpec } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromLayersModel, layersFactory, type LayersModelContext } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tasks: TaskSpec[] = [
  { name: 'rate', kind: 'regression', units: 2 },
  { name: 'family', kind: 'multiclass', units: 3 },
];

function seeded(rng: Rng) {
  return tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
}

/** dense 16 relu → dense 8 relu, initialised from the context's seed. */
function denseEncoder({ inputShape, seed }: LayersModelContext): tfl.Sequential {
  const rng = Rng.fromSeed(seed);
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 16, activation: 'relu', inputShape: [...inputShape], kernelInitializer: seeded(rng) }),
      tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: seeded(rng) }),
    ],
  });
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectMtlError(run: () => unknown, code: MtlErrorCode, message: RegExp | string): void {
  const error = thrown(run);
  expect(isMtlError(error, code), `expected MtlError ${code}, got ${String(error)}`).toBe(true);
  if (typeof message === 'string') expect((error as Error).message).toContain(message);
  else expect((error as Error).message).toMatch(message);
}

describe('fromLayersModel', () => {
  it("apply() equals model.predict(x), alone and as hard sharing's encoder (features)", () => {
    const user = denseEncoder({ inputShape: [10], seed: 7, scope: 'unused' });
    const module = fromLayersModel(user, { disposeModel: false });
    const x = tf.randomNormal([12, 10], 0, 1, 'float32', 3);
    const predicted = user.predict(x) as tf.Tensor;
    const applied = module.apply(x, { training: false });
    expect(applied.shape).toEqual([12, 8]);
    expect(maxAbsDiff(applied, predicted)).toBe(0);
    // Without dropout or batch-norm, training mode computes the same function.
    const trainingOutput = module.apply(x, { training: true });
    expect(maxAbsDiff(trainingOutput, predicted)).toBe(0);

    const model = hardSharing().build({ tasks, inputShape: [10], encoder: fromLayersModel(user) }, { seed: 1 });
    const features = model.encode(x, { training: false }) as tf.Tensor;
    expect(maxAbsDiff(features, predicted)).toBe(0);
    // The head reads exactly those features: output = features · W + b with the head's own variables.
    const [kernel, bias] = model.taskVariables('rate');
    const byHand = tf.add(tf.matMul(predicted as tf.Tensor2D, kernel as unknown as tf.Tensor2D), bias!);
    expect(maxAbsDiff(model.apply(x, { training: false }).outputs.rate!, byHand)).toBeLessThan(1e-6);
    tf.dispose([x, predicted, applied, trainingOutput, features, byHand]);
    const userVariables = user.getWeights(true);
    model.dispose();
    expect(userVariables.every((v) => v.isDisposed)).toBe(true);
  });

  it("variables() are the model's own trainable tf.Variables; lastLayerVariables() its last parametrised layer; outputShape from the model", () => {
    const rng = Rng.fromSeed(1);
    const user = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 5, activation: 'relu', inputShape: [4], kernelInitializer: seeded(rng) }),
        tfl.layers.batchNormalization(),
        tfl.layers.dense({ units: 3, kernelInitializer: seeded(rng) }),
        tfl.layers.dropout({ rate: 0.5 }),
        tfl.layers.activation({ activation: 'tanh' }),
      ],
    });
    const module = fromLayersModel(user);
    const variables = module.variables();
    expect(variables.map((v) => v.shape)).toEqual([[4, 5], [5], [5], [5], [5, 3], [3]]);
    expect(variables.every((v) => v instanceof tf.Variable && v.trainable)).toBe(true);
    // getWeights() hands out the same objects (tfjs-layers' batchGetValue returns LayerVariable.read()).
    const trainable = user.getWeights(true);
    expect(trainable.length).toBe(variables.length);
    trainable.forEach((w, i) => expect(w).toBe(variables[i]));
    // Batch-norm's moving mean and variance are not trainable and not listed.
    const moving = user.layers[1]!.nonTrainableWeights.map((w) => w.read());
    expect(moving.length).toBe(2);
    expect(moving.some((m) => variables.includes(m as tf.Variable))).toBe(false);
    expect(module.lastLayerVariables()).toEqual([variables[4], variables[5]]);
    expect(module.outputShape([4])).toEqual([3]);
    // A layer frozen by the user (before the trainer starts) drops out of variables().
    user.layers[0]!.trainable = false;
    expect(module.variables().map((v) => v.shape)).toEqual([[5], [5], [5, 3], [3]]);
    module.dispose?.();
    expect(variables.every((v) => v.isDisposed)).toBe(true);
    expect(module.variables()).toEqual([]);
    module.dispose?.(); // a second dispose is a no-op
  });

  it('dropout and batch-norm: training mode draws masks and moves the moving statistics; inference mode equals predict and leaves them', () => {
    const build = () => {
      const rng = Rng.fromSeed(4);
      return tfl.sequential({
        layers: [
          tfl.layers.dense({ units: 6, inputShape: [3], kernelInitializer: seeded(rng) }),
          tfl.layers.batchNormalization({ momentum: 0.9 }),
          tfl.layers.dropout({ rate: 0.5 }),
        ],
      });
    };
    const x = tf.randomNormal([32, 3], 0, 1, 'float32', 2);
    const follow = build();
    const module = fromLayersModel(follow);
    const movingMean = follow.layers[1]!.nonTrainableWeights[0]!.read();
    const before = follow.predict(x) as tf.Tensor;
    expect(maxAbsDiff(module.apply(x, { training: false }), before)).toBe(0);
    expect(Array.from(movingMean.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);

    // One training pass: moving ← moving − (moving − batch mean)·(1 − momentum) (tfjs-layers'
    // BatchNormalization), batch mean of the dense layer's output worked out here.
    const dense = follow.layers[0]!.apply(x) as tf.Tensor;
    const expectedMean = tf.mul(tf.mean(dense, 0), 0.1);
    const trained = module.apply(x, { training: true });
    expect(maxAbsDiff(movingMean, expectedMean)).toBeLessThan(1e-6);
    // Dropout at rate 0.5 zeroes about half the entries (and scales the rest by 2).
    const zeros = tf.tidy(() => tf.sum(tf.cast(tf.equal(trained, 0), 'float32')).dataSync()[0]!);
    expect(zeros / trained.size).toBeGreaterThan(0.3);
    expect(zeros / trained.size).toBeLessThan(0.7);

    const frozen = build();
    const inference = fromLayersModel(frozen, { training: 'inference' });
    const frozenMean = frozen.layers[1]!.nonTrainableWeights[0]!.read();
    const reference = frozen.predict(x) as tf.Tensor;
    const out = inference.apply(x, { training: true });
    expect(maxAbsDiff(out, reference)).toBe(0);
    expect(Array.from(frozenMean.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([x, before, dense, expectedMean, trained, reference, out]);
    module.dispose?.();
    inference.dispose?.();
  });

  it('works as the encoder of a tf.model (functional API) with a conv net on [8, 8, 1] images', () => {
    const rng = Rng.fromSeed(2);
    const input = tfl.input({ shape: [8, 8, 1] });
    let h = tfl.layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu', kernelInitializer: seeded(rng) }).apply(input) as tfl.SymbolicTensor;
    h = tfl.layers.flatten().apply(h) as tfl.SymbolicTensor;
    const user = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 4, kernelInitializer: seeded(rng) }).apply(h) as tfl.SymbolicTensor });
    const model = hardSharing().build({ tasks, inputShape: [8, 8, 1], encoder: fromLayersModel(user) }, { seed: 0 });
    const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 1);
    const { outputs, features } = model.apply(x, { training: false });
    const predicted = user.predict(x) as tf.Tensor;
    expect(maxAbsDiff(features as tf.Tensor, predicted)).toBe(0);
    expect(outputs.family!.shape).toEqual([2, 3]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[72, 4], [4]]);
    tf.dispose([x, predicted, features as tf.Tensor, ...Object.values(outputs)]);
    model.dispose();
  });
});

describe('layersFactory', () => {
  it('builds one model per call with the seed it is given; the same seed gives the same weights', () => {
    const contexts: LayersModelContext[] = [];
    const factory = layersFactory((context) => {
      contexts.push(context);
      return denseEncoder(context);
    });
    expect(factory.type).toBe('factory');
    const a = factory.create({ inputShape: [6], seed: 11, scope: 'a' });
    const b = factory.create({ inputShape: [6], seed: 11, scope: 'b' });
    const c = factory.create({ inputShape: [6], seed: 12, scope: 'c' });
    expect(contexts).toEqual([
      { inputShape: [6], seed: 11, scope: 'a' },
      { inputShape: [6], seed: 11, scope: 'b' },
      { inputShape: [6], seed: 12, scope: 'c' },
    ]);
    expect(a.variables()[0]).not.toBe(b.variables()[0]);
    expect(maxAbsDiff(a.variables()[0]!, b.variables()[0]!)).toBe(0);
    expect(maxAbsDiff(a.variables()[0]!, c.variables()[0]!)).toBeGreaterThan(0);
    expect(a.outputShape([6])).toEqual([8]);
    [a, b, c].forEach((m) => m.dispose?.());
  });

  it('as a head: the factory gives the hidden layers, buildHead adds the linear output layer', () => {
    const headModels: tfl.LayersModel[] = [];
    const head = layersFactory(({ inputShape, seed }) => {
      const model = tfl.sequential({
        layers: [tfl.layers.dense({ units: 5, activation: 'tanh', inputShape: [...inputShape], kernelInitializer: tfl.initializers.glorotUniform({ seed }) })],
      });
      headModels.push(model);
      return model;
    });
    const model = hardSharing().build({ tasks, inputShape: [6], encoder: { type: 'mlp', units: [8] }, head }, { seed: 3 });
    expect(headModels.length).toBe(2);
    for (const [t, task] of tasks.entries()) {
      const variables = model.taskVariables(task.name);
      expect(variables.map((v) => v.shape)).toEqual([[8, 5], [5], [5, task.units], [task.units]]);
      // The hidden part is the user's model itself.
      expect(variables.slice(0, 2)).toEqual(headModels[t]!.getWeights(true));
    }
    // The two heads got different seeds.
    expect(maxAbsDiff(model.taskVariables('rate')[0]!, model.taskVariables('family')[0]!)).toBeGreaterThan(0);

    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 8);
    const { outputs, features } = model.apply(x, { training: false });
    for (const [t, task] of tasks.entries()) {
      // output = predict(features) · W_out + b_out, with the output layer's variables.
      const [, , kernel, bias] = model.taskVariables(task.name);
      const hidden = headModels[t]!.predict(features as tf.Tensor) as tf.Tensor2D;
      const byHand = tf.add(tf.matMul(hidden, kernel as unknown as tf.Tensor2D), bias!);
      expect(maxAbsDiff(outputs[task.name]!, byHand)).toBeLessThan(1e-6);
      tf.dispose([hidden, byHand]);
    }

    // Trains (equal weighting): the loss falls and the user's head weights move.
    const start = headModels[0]!.getWeights(true).map((w) => tf.clone(w));
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.02 }, seed: 1 });
    const batch = {
      inputs: tf.randomNormal([16, 6], 0, 1, 'float32', 1),
      targets: { rate: tf.randomNormal([16, 2], 0, 1, 'float32', 2), family: tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32') },
    };
    const first = trainer.step(batch).loss;
    let last = first;
    for (let i = 0; i < 60; i++) last = trainer.step(batch).loss;
    expect(last).toBeLessThan(first * 0.6);
    expect(maxAbsDiff(start[0]!, headModels[0]!.getWeights(true)[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([x, features as tf.Tensor, ...Object.values(outputs), ...start, batch.inputs, ...Object.values(batch.targets)]);
    const headVariables = headModels.flatMap((m) => m.getWeights(true));
    trainer.dispose();
    model.dispose();
    expect(headVariables.every((v) => v.isDisposed)).toBe(true);
  });

  it('checkpoint keys: positional for tfjs-layers names, readable when the layers are named under context.scope', () => {
    const spec = { tasks, inputShape: [6], encoder: layersFactory(denseEncoder) };
    const a = hardSharing().build(spec, { seed: 1 });
    const b = hardSharing().build(spec, { seed: 2 });
    const keys = Object.keys(a.getWeights());
    expect(keys.slice(0, 4)).toEqual(['encoder/#0', 'encoder/#1', 'encoder/#2', 'encoder/#3']);
    const weights = a.getWeights();
    expect(Object.keys(b.getWeights())).toEqual(keys);
    b.setWeights(weights);
    const x = tf.randomNormal([3, 6], 0, 1, 'float32', 5);
    expect(maxAbsDiff(a.apply(x, { training: false }).outputs.family!, b.apply(x, { training: false }).outputs.family!)).toBe(0);

    const named = layersFactory(({ inputShape, seed, scope }) =>
      tfl.sequential({
        layers: [tfl.layers.dense({ units: 4, inputShape: [...inputShape], name: `${scope}/dense0`, kernelInitializer: tfl.initializers.glorotUniform({ seed }) })],
      }),
    );
    const c = hardSharing().build({ ...spec, encoder: named }, { seed: 1 });
    expect(Object.keys(c.getWeights()).slice(0, 2)).toEqual(['hard/encoder/dense0/kernel', 'hard/encoder/dense0/bias']);
    tf.dispose([x, ...Object.values(weights)]);
    [a, b, c].forEach((m) => m.dispose());
  });
});

describe('bad models, shapes and options are MtlErrors', () => {
  it('refuses a multi-output model (BAD_CONFIG), and frees what the factory built', () => {
    const twoHeads = () => {
      const input = tfl.input({ shape: [6] });
      const hidden = tfl.layers.dense({ units: 4 }).apply(input) as tfl.SymbolicTensor;
      return tfl.model({
        inputs: input,
        outputs: [tfl.layers.dense({ units: 2 }).apply(hidden) as tfl.SymbolicTensor, tfl.layers.dense({ units: 3 }).apply(hidden) as tfl.SymbolicTensor],
      });
    };
    const direct = twoHeads();
    expectMtlError(() => fromLayersModel(direct), 'BAD_CONFIG', /has 2 outputs; an mtljs encoder or head maps one tensor to one tensor/);
    direct.dispose();
    const before = tf.memory().numTensors;
    expectMtlError(() => hardSharing().build({ tasks, inputShape: [6], encoder: layersFactory(twoHeads) }, { seed: 0 }), 'BAD_CONFIG', 'has 2 outputs');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a wrong input shape (SHAPE_MISMATCH naming both shapes): at build, from a factory or an instance, and at apply', () => {
    const before = tf.memory().numTensors;
    const wrong = layersFactory(({ seed }) => denseEncoder({ inputShape: [5], seed, scope: '' }));
    expectMtlError(
      () => hardSharing().build({ tasks, inputShape: [6], encoder: wrong }, { seed: 0 }),
      'SHAPE_MISMATCH',
      /takes examples of shape \[5\] .* but the strategy gives it inputs of shape \[6\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const error = thrown(() => hardSharing().build({ tasks, inputShape: [6], encoder: wrong }, { seed: 0 })) as { details: object };
    expect(error.details).toMatchObject({ expected: [5], received: [6] });

    const user = denseEncoder({ inputShape: [5], seed: 0, scope: '' });
    expectMtlError(() => hardSharing().build({ tasks, inputShape: [2, 3], encoder: fromLayersModel(user, { name: 'mine' }) }, { seed: 0 }), 'SHAPE_MISMATCH', "layers model 'mine' takes examples of shape [5]");
    const module = fromLayersModel(user);
    expectMtlError(() => module.apply(tf.ones([2, 6]), { training: false }), 'SHAPE_MISMATCH', 'takes inputs of shape [N, 5], got [2, 6]');
    expectMtlError(() => module.apply(tf.ones([2, 1, 5]), { training: false }), 'SHAPE_MISMATCH', 'got [2, 1, 5]');
    expectMtlError(() => module.apply([tf.ones([2, 5])] as never, { training: false }), 'BAD_DATA', 'takes one tensor');
    // A head factory whose model does not take the encoder's features.
    const head = layersFactory(({ seed }) => denseEncoder({ inputShape: [3], seed, scope: '' }));
    expectMtlError(() => hardSharing().build({ tasks, inputShape: [6], encoder: { type: 'mlp', units: [4] }, head }, { seed: 0 }), 'SHAPE_MISMATCH', /\[3\].*\[4\]/);
    module.dispose?.();
  });

  it('refuses multi-input, unbuilt and non-models, bad options and a throwing model function (BAD_CONFIG)', () => {
    const a = tfl.input({ shape: [2] });
    const b = tfl.input({ shape: [2] });
    const merged = tfl.layers.dense({ units: 1 }).apply(tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const twoInputs = tfl.model({ inputs: [a, b], outputs: merged });
    expectMtlError(() => fromLayersModel(twoInputs), 'BAD_CONFIG', 'has 2 inputs');
    twoInputs.dispose();
    const unbuilt = tfl.sequential();
    expectMtlError(() => fromLayersModel(unbuilt), 'BAD_CONFIG', 'is not built: it has no input shape');
    expectMtlError(() => fromLayersModel({} as never), 'BAD_CONFIG', 'expected a tfjs-layers LayersModel');
    expectMtlError(() => fromLayersModel(null as never), 'BAD_CONFIG', 'got null');

    const user = denseEncoder({ inputShape: [3], seed: 0, scope: '' });
    expectMtlError(() => fromLayersModel(user, { trainng: 'follow' } as never), 'BAD_CONFIG', "unknown option 'trainng'");
    expectMtlError(() => fromLayersModel(user, { training: 'always' } as never), 'BAD_CONFIG', "option 'training' must be 'follow' or 'inference'");
    expectMtlError(() => fromLayersModel(user, { disposeModel: 'yes' } as never), 'BAD_CONFIG', "option 'disposeModel'");
    expectMtlError(() => layersFactory(denseEncoder, { disposeModel: false } as never), 'BAD_CONFIG', "layersFactory: unknown option 'disposeModel'");
    expectMtlError(() => layersFactory('dense' as never), 'BAD_CONFIG', 'layersFactory: expected a function');
    const failing = layersFactory(() => {
      throw new TypeError('boom');
    });
    const error = thrown(() => hardSharing().build({ tasks, inputShape: [3], encoder: failing }, { seed: 0 }));
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect((error as Error).message).toBe('layersFactory: the model function threw: boom');
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    user.dispose();
  });
});
