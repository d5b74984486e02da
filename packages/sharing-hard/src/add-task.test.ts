import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { disposeBatch, fromArrays, Rng, Trainer, isMtlError, type ModelSpec, type TaskSpec } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { hardSharing } from './hard';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Three related regression tasks, y_t = tanh(w_tᵀx) + 0.05 ε with w_t = 0.8 u + 0.6 v_t (shared
// direction u, own direction v_t); the model first learns t0 and t1, then t2 is added.
function relatedTasks(seed: number) {
  const rng = Rng.fromSeed(seed);
  const dim = 16;
  const direction = () => Array.from({ length: dim }, () => rng.normal() / Math.sqrt(dim));
  const u = direction();
  const w = [0, 1, 2].map(() => direction().map((v, i) => 0.8 * u[i]! + 0.6 * v) );
  const split = (count: number) => {
    const inputs = Float32Array.from({ length: count * dim }, () => rng.normal());
    const targets: Record<string, Float32Array> = {};
    w.forEach((wt, t) => {
      targets[`t${t}`] = Float32Array.from({ length: count }, (_, n) => {
        let s = 0;
        for (let i = 0; i < dim; i++) s += wt[i]! * inputs[n * dim + i]!;
        return Math.tanh(2 * s) + 0.05 * rng.normal();
      });
    });
    return { inputs, targets };
  };
  const tasks: TaskSpec[] = [0, 1, 2].map((t) => ({ name: `t${t}`, kind: 'regression', units: 1 }));
  return { tasks, arrays: { train: split(1500), validation: split(500) } };
}
const data = relatedTasks(3);
const pick = (split: 'train' | 'validation', names: string[]) =>
  fromArrays(
    { inputs: data.arrays[split].inputs, inputShape: [16], targets: Object.fromEntries(names.map((n) => [n, data.arrays[split].targets[n]!])) },
    { batchSize: 64 },
  );
const [t0, t1, t2] = data.tasks;
const spec: ModelSpec = { tasks: [t0!, t1!], inputShape: [16], encoder: { type: 'mlp', units: [32, 16] } };

function predictions(model: ReturnType<ReturnType<typeof hardSharing>['build']>, names: string[]): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor2d(data.arrays.validation.inputs.subarray(0, 64 * 16), [64, 16]);
    const outputs = model.apply(x, { training: false }).outputs;
    return names.map((n) => Float32Array.from(outputs[n]!.dataSync()));
  });
}

describe('adding a task to a trained hard-sharing model', () => {
  it('keeps the first two tasks within 2% (no worse) while the encoder is frozen, and the new task learns', async () => {
    const model = hardSharing().build(spec, { seed: 1 });
    const first = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 1 });
    await first.fit(pick('train', ['t0', 't1']), { epochs: 15 });
    const before = (await first.evaluate(pick('validation', ['t0', 't1']))).tasks;
    first.dispose();
    const oldOutputs = predictions(model, ['t0', 't1']);
    const encoderBefore = model.sharedVariables().map((v) => Float32Array.from(v.dataSync()));

    model.addTask!(t2!, { seed: 9 });
    expect(model.taskNames).toEqual(['t0', 't1', 't2']);
    // Adding the head changed nothing the model had learnt.
    predictions(model, ['t0', 't1']).forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(oldOutputs[i]!)));

    const second = new Trainer({ model, freeze: { shared: true }, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 2 });
    const untrained = (await second.evaluate(pick('validation', ['t0', 't1', 't2']))).tasks.t2!;
    await second.fit(pick('train', ['t0', 't1', 't2']), { epochs: 6 });
    const after = (await second.evaluate(pick('validation', ['t0', 't1', 't2']))).tasks;
    second.dispose();

    // Relative change of the validation RMSE; the old heads keep training on their labels, so it
    // may improve: the requirement is that it gets no more than 2% worse.
    const change = (task: 't0' | 't1') => (after[task]!.metrics.rmse! - before[task]!.metrics.rmse!) / before[task]!.metrics.rmse!;
    console.log(
      `add-task: rmse t0 ${before.t0!.metrics.rmse!.toFixed(4)} → ${after.t0!.metrics.rmse!.toFixed(4)} (${(100 * change('t0')).toFixed(2)}%), ` +
        `t1 ${before.t1!.metrics.rmse!.toFixed(4)} → ${after.t1!.metrics.rmse!.toFixed(4)} (${(100 * change('t1')).toFixed(2)}%), ` +
        `new t2 ${untrained.metrics.rmse!.toFixed(4)} → ${after.t2!.metrics.rmse!.toFixed(4)}`,
    );
    expect(change('t0')).toBeLessThanOrEqual(0.02);
    expect(change('t1')).toBeLessThanOrEqual(0.02);
    // The new task learns: its validation error falls well below the untrained head's.
    expect(after.t2!.metrics.rmse!).toBeLessThan(0.6 * untrained.metrics.rmse!);
    // Frozen means frozen: the encoder did not move at all.
    model.sharedVariables().forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(encoderBefore[i]!)));
    model.dispose();
  });

  it('with the old heads frozen too, the old tasks give bit-identical outputs; no leak', async () => {
    const model = hardSharing().build(spec, { seed: 4 });
    const oldOutputs = predictions(model, ['t0', 't1']);
    model.addTask!(t2!, { seed: 5 });
    const trainer = new Trainer({ model, freeze: { shared: true, tasks: ['t0', 't1'] }, optimizer: { name: 'sgd', learningRate: 0.05 }, seed: 2 });
    const batch = pick('train', ['t0', 't1', 't2']).batches().next().value!;
    const first = trainer.step(batch);
    await checkNoLeak(() => trainer.step(batch), { steps: 50, warmup: 1, label: 'frozen training' });
    const last = trainer.step(batch);
    expect(last.losses.t2!).toBeLessThan(first.losses.t2!);
    predictions(model, ['t0', 't1']).forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(oldOutputs[i]!)));
    disposeBatch(batch);
    trainer.dispose();
    model.dispose();
  });

  it('refuses a duplicate task name and unknown frozen tasks', () => {
    const model = hardSharing().build(spec, { seed: 1 });
    const duplicate = (() => {
      try {
        model.addTask!({ name: 't0', kind: 'regression', units: 1 }, { seed: 1 });
      } catch (error) {
        return error;
      }
    })();
    expect(isMtlError(duplicate) && duplicate.message).toMatch(/'t0' is used twice/);
    expect(() => new Trainer({ model, freeze: { tasks: ['nope'] } })).toThrow(/freeze.tasks names 'nope'/);
    model.dispose();
  });
});
