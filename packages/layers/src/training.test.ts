import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, Trainer, type Batch, type TaskSpec } from '@mtljs/core';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkNoLeak } from '@mtljs/testkit';
import { pcgrad } from '@mtljs/weighting-pcgrad';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromLayersModel, layersFactory, type LayersModelContext } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function seeded(rng: Rng) {
  return tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
}

function values(tensors: tf.Tensor[]): number[][] {
  return tensors.map((t) => Array.from(t.dataSync()));
}

function maxGap(a: number[][], b: number[][]): number {
  let gap = 0;
  a.forEach((row, i) => row.forEach((v, j) => (gap = Math.max(gap, Math.abs(v - b[i]![j]!)))));
  return gap;
}

async function meanValidationLoss(trainer: Trainer, source: Parameters<Trainer['evaluate']>[0]): Promise<number> {
  const report = await trainer.evaluate(source);
  const losses = Object.values(report.tasks).map((task) => task.loss);
  return losses.reduce((a, b) => a + b, 0) / losses.length;
}

describe('a tf.sequential encoder in hard sharing, trained by the mtljs engine', () => {
  it('trains under PCGrad at site shared: losses fall, and the layers model’s own weights are what moved', async () => {
    const data = syntheticTasks({ tasks: 2, correlation: 0.2, inputDim: 10, trainSize: 256, validationSize: 128, batchSize: 16, seed: 3 });
    const rng = Rng.fromSeed(5);
    const user = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 16, activation: 'relu', inputShape: [10], kernelInitializer: seeded(rng) }),
        tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: seeded(rng) }),
      ],
    });
    const initial = values(user.getWeights());
    const model = hardSharing().build({ tasks: data.tasks, inputShape: data.inputShape, encoder: fromLayersModel(user) }, { seed: 1 });
    const trainer = new Trainer({ model, weighting: pcgrad(), site: 'shared', optimizer: { name: 'adam', learningRate: 0.01 }, seed: 2 });

    const before = await meanValidationLoss(trainer, data.validation);
    let projected = 0;
    const history = await trainer.fit(data.train, {
      epochs: 4,
      callbacks: { onStep: (report) => void (Object.values(report.weights).some((w) => Math.abs(w - 1) > 1e-9) && (projected += 1)) },
    });
    // The tasks conflicted on some steps, so PCGrad's projection took part.
    expect(projected).toBeGreaterThan(0);
    const after = await meanValidationLoss(trainer, data.validation);
    const trainLoss = history.map((epoch) => (epoch.trainLosses[data.tasks[0]!.name]! + epoch.trainLosses[data.tasks[1]!.name]!) / 2);

    expect(after).toBeLessThan(before * 0.6);
    expect(trainLoss[3]!).toBeLessThan(trainLoss[0]!);
    // The user's model, read through tfjs-layers, holds the trained weights: they moved from their
    // initial values and equal, entry by entry, the variables mtljs lists as shared (same objects).
    const trained = user.getWeights();
    expect(maxGap(values(trained), initial)).toBeGreaterThan(0.01);
    const shared = model.sharedVariables();
    expect(shared.length).toBe(4);
    expect(maxGap(values(trained), values(shared))).toBe(0);
    trained.forEach((w, i) => expect(w).toBe(shared[i]));
    // ...and predict() with them gives the mtljs model's features.
    const x = tf.randomNormal([5, 10], 0, 1, 'float32', 9);
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(user.predict(x) as tf.Tensor, model.encode(x, { training: false }) as tf.Tensor))).dataSync()[0]);
    expect(gap).toBe(0);
    x.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('one SGD step under PCGrad equals the update worked by hand from gradients taken through tfjs-layers', () => {
    const rng = Rng.fromSeed(8);
    const user = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 4, activation: 'tanh', inputShape: [3], kernelInitializer: seeded(rng) }),
        tfl.layers.dense({ units: 3, activation: 'tanh', kernelInitializer: seeded(rng) }),
      ],
    });
    const tasks: TaskSpec[] = [
      { name: 'up', kind: 'regression', units: 1 },
      { name: 'down', kind: 'regression', units: 1 },
    ];
    const model = hardSharing().build({ tasks, inputShape: [3], encoder: fromLayersModel(user) }, { seed: 4 });
    const x = tf.randomNormal([8, 3], 0, 1, 'float32', 1);
    const target = tf.randomNormal([8, 1], 0, 1, 'float32', 2);
    // Opposite targets, so that the two tasks' encoder gradients conflict.
    const targets = { up: target, down: tf.neg(target) };
    const lr = 0.1;

    // By hand: L_t = mean((f(x)·W_t + b_t − y_t)²), f = the layers model's own apply();
    // g_t over the encoder; PCGrad for two tasks (Yu et al. 2020, Alg. 1):
    // g_1' = g_1 − min(0, g_1·g_2)/‖g_2‖² g_2, g_2' = g_2 − min(0, g_1·g_2)/‖g_1‖² g_1;
    // encoder ← θ − lr (g_1' + g_2'); each head ← its own gradient step.
    const theta = user.getWeights(true) as tf.Variable[];
    const grads = tasks.map((task) => {
      const [kernel, bias] = model.taskVariables(task.name);
      const { value, grads: g } = tf.variableGrads(() => {
        const prediction = tf.add(tf.matMul(user.apply(x, { training: true }) as tf.Tensor2D, kernel as unknown as tf.Tensor2D), bias!);
        return tf.mean(tf.square(tf.sub(prediction, targets[task.name as 'up' | 'down']))) as tf.Scalar;
      }, [...theta, kernel!, bias!]);
      value.dispose();
      const encoder = tf.concat(theta.map((v) => tf.reshape(g[v.name]!, [-1])));
      return { encoder: Array.from(encoder.dataSync()), head: [kernel!, bias!].map((v) => Array.from(g[v.name]!.dataSync())) };
    });
    const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
    const [g1, g2] = [grads[0]!.encoder, grads[1]!.encoder];
    const inner = dot(g1, g2);
    expect(inner).toBeLessThan(0);
    const c = Math.min(0, inner);
    const update = g1.map((v, i) => v - (c / dot(g2, g2)) * g2[i]! + g2[i]! - (c / dot(g1, g1)) * v);
    const thetaBefore = Array.from(tf.concat(theta.map((v) => tf.reshape(v, [-1]))).dataSync());
    const expectedTheta = thetaBefore.map((v, i) => v - lr * update[i]!);
    const expectedHeads = tasks.map((task, t) => model.taskVariables(task.name).map((v, k) => Array.from(v.dataSync()).map((w, i) => w - lr * grads[t]!.head[k]![i]!)));

    const trainer = new Trainer({ model, weighting: pcgrad(), site: 'shared', optimizer: { name: 'sgd', learningRate: lr }, seed: 0 });
    const report = trainer.step({ inputs: x, targets });
    const thetaAfter = Array.from(tf.concat(user.getWeights(true).map((v) => tf.reshape(v, [-1]))).dataSync());
    const gap = Math.max(...thetaAfter.map((v, i) => Math.abs(v - expectedTheta[i]!)));
    const moved = Math.max(...thetaAfter.map((v, i) => Math.abs(v - thetaBefore[i]!)));
    expect(moved).toBeGreaterThan(1e-3);
    expect(gap).toBeLessThan(1e-6);
    tasks.forEach((task, t) => expect(maxGap(values(model.taskVariables(task.name)), expectedHeads[t]!)).toBeLessThan(1e-6));
    // As weights of the original gradients: g_1' + g_2' = (1 − c/‖g_1‖²) g_1 + (1 − c/‖g_2‖²) g_2.
    expect(report.weights.up).toBeCloseTo(1 - c / dot(g1, g1), 5);
    expect(report.weights.down).toBeCloseTo(1 - c / dot(g2, g2), 5);
    tf.dispose([x, target, targets.down]);
    trainer.dispose();
    model.dispose();
  });

  it('leaks no tensor over 60 trainer steps (batch-norm + dropout encoder, layers head, PCGrad at shared and features)', async () => {
    const encoder = layersFactory(({ inputShape, seed }: LayersModelContext) => {
      const rng = Rng.fromSeed(seed);
      return tfl.sequential({
        layers: [
          tfl.layers.dense({ units: 8, inputShape: [...inputShape], kernelInitializer: seeded(rng) }),
          tfl.layers.batchNormalization(),
          tfl.layers.activation({ activation: 'relu' }),
          tfl.layers.dropout({ rate: 0.2 }),
          tfl.layers.dense({ units: 4, activation: 'relu', kernelInitializer: seeded(rng) }),
        ],
      });
    });
    const head = layersFactory(({ inputShape, seed }) =>
      tfl.sequential({ layers: [tfl.layers.dense({ units: 3, activation: 'relu', inputShape: [...inputShape], kernelInitializer: tfl.initializers.glorotUniform({ seed }) })] }),
    );
    const tasks: TaskSpec[] = [
      { name: 'a', kind: 'regression', units: 1 },
      { name: 'b', kind: 'binary', units: 1 },
    ];
    const batch: Batch = {
      inputs: tf.randomNormal([12, 5], 0, 1, 'float32', 1),
      targets: { a: tf.randomNormal([12, 1], 0, 1, 'float32', 2), b: tf.tensor1d([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0]) },
    };
    const start = tf.memory().numTensors;
    for (const site of ['shared', 'features'] as const) {
      const model = hardSharing().build({ tasks, inputShape: [5], encoder, head }, { seed: 2 });
      const trainer = new Trainer({ model, weighting: pcgrad(), site, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 1 });
      const first = trainer.step(batch).loss;
      const report = await checkNoLeak(() => void trainer.step(batch), { steps: 60, label: `layers encoder, pcgrad at '${site}'` });
      expect(report.after).toBe(report.before);
      expect(trainer.step(batch).loss).toBeLessThan(first);
      trainer.dispose();
      model.dispose();
      expect(tf.memory().numTensors).toBe(start);
    }
    tf.dispose([batch.inputs as tf.Tensor, ...(Object.values(batch.targets) as tf.Tensor[])]);
  });

  it('addTask on a model with a layers encoder and layers heads: old outputs unchanged; the new head trains alone', () => {
    const encoder = layersFactory(({ inputShape, seed }: LayersModelContext) => {
      const rng = Rng.fromSeed(seed);
      return tfl.sequential({ layers: [tfl.layers.dense({ units: 6, activation: 'relu', inputShape: [...inputShape], kernelInitializer: seeded(rng) })] });
    });
    const head = layersFactory(({ inputShape, seed }) =>
      tfl.sequential({ layers: [tfl.layers.dense({ units: 4, activation: 'tanh', inputShape: [...inputShape], kernelInitializer: tfl.initializers.glorotUniform({ seed }) })] }),
    );
    const model = hardSharing().build({ tasks: [{ name: 'old', kind: 'regression', units: 1 }], inputShape: [4], encoder, head }, { seed: 1 });
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 3);
    const oldBefore = Array.from(model.apply(x, { training: false }).outputs.old!.dataSync());
    const variablesBefore = values([...model.sharedVariables(), ...model.taskVariables('old')]);

    model.addTask!({ name: 'new', kind: 'multiclass', units: 3 }, { seed: 7 });
    expect(model.taskNames).toEqual(['old', 'new']);
    expect(model.taskVariables('new').map((v) => v.shape)).toEqual([[6, 4], [4], [4, 3], [3]]);
    const outputs = model.apply(x, { training: false }).outputs;
    expect(Array.from(outputs.old!.dataSync())).toEqual(oldBefore);
    expect(outputs.new!.shape).toEqual([16, 3]);

    const trainer = new Trainer({ model, freeze: { shared: true, tasks: ['old'] }, optimizer: { name: 'adam', learningRate: 0.05 }, seed: 0 });
    const mask = tf.zeros([16]);
    const batch: Batch = {
      inputs: x,
      targets: { new: tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32') },
      masks: { old: mask },
    };
    const first = trainer.step(batch).losses.new!;
    let last = first;
    for (let i = 0; i < 40; i++) last = trainer.step(batch).losses.new!;
    expect(last).toBeLessThan(first * 0.8);
    expect(maxGap(values([...model.sharedVariables(), ...model.taskVariables('old')]), variablesBefore)).toBe(0);
    tf.dispose([x, mask, ...(Object.values(batch.targets) as tf.Tensor[]), ...Object.values(outputs)]);
    trainer.dispose();
    model.dispose();
  });
});
