import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { ActivationName, GradientSite, MultiTaskModel, RecordedPass } from '../src/index';
import { DenseStack, isMtlError, Rng, TrainStepEngine } from '../src/index';
import { fixedBatch, fixedGramian, fixedJacobian, maxAbsDiff, TASKS, tinyModel } from './fixtures';

// A recorded forward pass (LayerModule.record, MultiTaskModel.encodeRecorded) lets the engine run
// the encoder forward once per step and take every task's gradient through it by hand. Its
// numbers are checked against tfjs's own autodiff (tf.variableGrads), and the engine's steps
// against the same model without the recorded pass.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ACTIVATIONS: ActivationName[] = ['relu', 'tanh', 'sigmoid', 'elu', 'leaky-relu', 'linear'];

function stack(activation: ActivationName, outputActivation: ActivationName, seed = 3): DenseStack {
  return new DenseStack({ inputSize: 5, units: [7, 6, 4], activation, outputActivation, scope: `rec-${activation}-${outputActivation}-${seed}`, rng: Rng.fromSeed(seed) });
}

describe('DenseStack.record: a forward pass kept for backward passes by hand', () => {
  for (const act of ACTIVATIONS) {
    it(`${act}: the output equals apply(); backward of 3 cotangents equals tf.variableGrads of ⟨output, cotangent⟩ for each`, () => {
      const layers = stack(act, act === 'linear' ? 'tanh' : 'linear');
      const x = tf.randomNormal([9, 5], 0, 1, 'float32', 11);
      const cotangents = tf.randomNormal([3, 9, 4], 0, 1, 'float32', 12);
      const pass = layers.record(x, { training: true });
      const applied = layers.apply(x, { training: true });
      expect(maxAbsDiff(pass.output, applied)).toBeLessThan(1e-6);
      const grads = pass.backward(cotangents);
      expect(grads.map((g) => g.shape)).toEqual(layers.variables().map((v) => [3, ...v.shape]));
      for (let t = 0; t < 3; t++) {
        const c = tf.squeeze(tf.slice(cotangents, [t, 0, 0], [1, -1, -1]), [0]);
        const { value, grads: reference } = tf.variableGrads(() => tf.sum(tf.mul(layers.apply(x, { training: true }), c)) as tf.Scalar, layers.variables());
        layers.variables().forEach((v, i) => {
          const mine = tf.squeeze(tf.slice(grads[i]!, [t], [1]), [0]);
          expect(maxAbsDiff(mine, reference[v.name]!)).toBeLessThan(2e-5);
          mine.dispose();
        });
        tf.dispose([c, value, ...Object.values(reference)]);
      }
      pass.dispose();
      tf.dispose([x, cotangents, applied, ...grads]);
      layers.dispose();
    });
  }

  for (const tasks of [1, 3]) {
    it(`backwardColumns of ${tasks} cotangent(s) gives backward's gradients as [size, T] columns`, () => {
      const layers = stack('relu', 'tanh', 5);
      const x = tf.randomNormal([9, 5], 0, 1, 'float32', 13);
      const cotangents = tf.randomNormal([tasks, 9, 4], 0, 1, 'float32', 14);
      const pass = layers.record(x, { training: true });
      const rows = pass.backward(cotangents);
      const columns = pass.backwardColumns!(cotangents);
      expect(columns.map((g) => g.shape)).toEqual(layers.variables().map((v) => [v.size, tasks]));
      columns.forEach((column, i) => {
        const asRows = tf.reshape(tf.transpose(column), rows[i]!.shape);
        expect(maxAbsDiff(asRows, rows[i]!)).toBeLessThan(1e-5);
        asRows.dispose();
      });
      pass.dispose();
      expect(() => pass.backwardColumns!(cotangents)).toThrowError(/backward\(\) after dispose\(\)/);
      tf.dispose([x, cotangents, ...rows, ...columns]);
      layers.dispose();
    });
  }

  it('takes a rank-3 input by flattening it, leaves the caller its input, and frees what it kept', () => {
    const layers = stack('relu', 'linear');
    const x = tf.randomNormal([4, 1, 5], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 40; i++) {
      const pass = layers.record(x, { training: true });
      const cotangents = tf.ones([2, 4, 4]);
      tf.dispose([...pass.backward(cotangents), ...pass.backwardColumns!(cotangents), cotangents]);
      pass.dispose();
      pass.dispose(); // twice is harmless
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false);
    x.dispose();
    layers.dispose();
  });

  it('wrong cotangents are SHAPE_MISMATCH, backward after dispose is BAD_CONFIG, a wrong input is SHAPE_MISMATCH', () => {
    const layers = stack('tanh', 'linear');
    const x = tf.ones([4, 5]);
    const pass = layers.record(x, { training: true });
    const wrong = tf.ones([2, 4, 5]);
    const before = tf.memory().numTensors;
    expect(() => pass.backward(wrong)).toThrowError(/cotangents \[2, 4, 5\] do not match \[T, 4, 4\]/);
    expect(() => pass.backwardColumns!(wrong)).toThrowError(/cotangents \[2, 4, 5\] do not match \[T, 4, 4\]/);
    expect(tf.memory().numTensors).toBe(before);
    pass.dispose();
    const right = tf.ones([1, 4, 4]);
    try {
      pass.backward(right);
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error) && error.code).toBe('BAD_CONFIG');
    }
    expect(() => layers.record(tf.ones([4, 6]), { training: true })).toThrowError(/expects 5 input features, got 6/);
    tf.dispose([x, wrong, right]);
    layers.dispose();
  });
});

/** The model's variables, by name, as plain arrays. */
function values(model: MultiTaskModel): Record<string, number[]> {
  const all = [...model.sharedVariables(), ...model.taskNames.flatMap((t) => model.taskVariables(t))];
  return Object.fromEntries(all.map((v) => [v.name.replace(/^mtl\d+\//, ''), Array.from(v.dataSync())]));
}

/** A model counting its calls of encode and encodeRecorded. */
function counted(model: MultiTaskModel): { model: MultiTaskModel; calls: { encode: number; recorded: number } } {
  const calls = { encode: 0, recorded: 0 };
  const encode = model.encode.bind(model);
  const encodeRecorded = model.encodeRecorded!.bind(model);
  model.encode = (inputs, options) => (calls.encode++, encode(inputs, options));
  model.encodeRecorded = (inputs, options) => (calls.recorded++, encodeRecorded(inputs, options));
  return { model, calls };
}

describe('the engine with a recorded encoder pass', () => {
  const sites: GradientSite[] = ['shared', 'features'];
  for (const site of sites) {
    it(`site '${site}': per-task gradients, heads and losses equal those of tfjs's autodiff`, () => {
      const recorded = tinyModel(TASKS, { seed: 4, recorded: true });
      const plain = tinyModel(TASKS, { seed: 4 });
      const batch = fixedBatch(12, 7);
      const make = (model: MultiTaskModel) => new TrainStepEngine({ model, weighting: fixedGramian([1, 1, 1]), optimizer: tf.train.sgd(0.1), site, seed: 1 });
      const a = make(recorded).taskGradients(make(recorded).prepare(batch), site);
      const b = make(plain).taskGradients(make(plain).prepare(batch), site);
      expect(a.jacobian.shape).toEqual(b.jacobian.shape);
      expect(maxAbsDiff(a.jacobian, b.jacobian)).toBeLessThan(1e-5);
      expect(maxAbsDiff(a.losses, b.losses)).toBeLessThan(1e-6);
      expect(a.names.map((n) => n.replace(/^mtl\d+\//, ''))).toEqual(b.names.map((n) => n.replace(/^mtl\d+\//, '')));
      a.heads.forEach((head, k) => {
        const other = Object.values(b.heads[k]!);
        Object.values(head).forEach((g, i) => expect(maxAbsDiff(g, other[i]!)).toBeLessThan(1e-5));
      });
      expect(site === 'features' ? a.encoderPass !== undefined : a.encoderPass === undefined).toBe(true);
      a.dispose();
      b.dispose();
      recorded.dispose();
      plain.dispose();
    });

    for (const weighting of ['gramian', 'jacobian'] as const) {
      it(`site '${site}', ${weighting} level: 5 SGD steps with a penalty equal the model without it; the encoder runs forward once a step`, () => {
        const { model: recorded, calls } = counted(tinyModel(TASKS, { seed: 6, recorded: true, penalty: 0.01 }));
        const plain = tinyModel(TASKS, { seed: 6, penalty: 0.01 });
        const rule = () => (weighting === 'gramian' ? fixedGramian([0.5, 1, 2]) : fixedJacobian([0.5, 1, 2]));
        const engines = [recorded, plain].map((model) => new TrainStepEngine({ model, weighting: rule(), optimizer: tf.train.sgd(0.2), site, seed: 1 }));
        for (let step = 0; step < 5; step++) {
          const batch = fixedBatch(12, 20 + step);
          const [ra, rb] = engines.map((engine) => engine.runStep(batch));
          Object.entries(ra!.losses).forEach(([task, loss]) => expect(loss).toBeCloseTo(rb!.losses[task]!, 5));
          tf.dispose([batch.inputs as Tensor, ...Object.values(batch.targets)]);
        }
        expect(calls).toEqual({ encode: 0, recorded: 5 });
        const [va, vb] = [values(recorded), values(plain)];
        for (const name of Object.keys(vb)) {
          const gap = Math.max(...va[name]!.map((v, i) => Math.abs(v - vb[name]![i]!)));
          expect(gap, name).toBeLessThan(1e-5);
        }
        recorded.dispose();
        plain.dispose();
      });
    }

    it(`site '${site}': no tensor is left behind over 60 steps`, () => {
      const model = tinyModel(TASKS, { seed: 8, recorded: true });
      const engine = new TrainStepEngine({ model, weighting: fixedGramian([1, 1, 1]), optimizer: tf.train.adam(1e-3), site, seed: 1 });
      const batch = fixedBatch(12, 9);
      engine.runStep(batch); // optimiser slots
      const before = tf.memory().numTensors;
      for (let i = 0; i < 60; i++) engine.runStep(batch);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([batch.inputs as Tensor, ...Object.values(batch.targets)]);
      model.dispose();
    });
  }

  // 'shared' with backwardColumns holds Jᵀ: G and Σ_t w_t J_t come from it directly (transposeA
  // up to 4 tasks, J·Jᵀ beyond), and J is made only when read.
  for (const count of [2, 6]) {
    it(`site 'shared', ${count} tasks: G and the combination from the gradient columns equal J·Jᵀ and wᵀJ of autodiff's J`, () => {
      const tasks = Array.from({ length: count }, (_, t) => ({ name: `t${t}`, kind: 'regression' as const, units: 2 }));
      const rng = Rng.fromSeed(count);
      const batch = {
        inputs: tf.tensor2d(Array.from({ length: 60 }, () => rng.normal()), [12, 5]),
        targets: Object.fromEntries(tasks.map((t) => [t.name, tf.tensor2d(Array.from({ length: 24 }, () => rng.normal()), [12, 2])])),
      };
      const recorded = tinyModel(tasks, { seed: 9, recorded: true });
      const plain = tinyModel(tasks, { seed: 9 });
      const make = (model: MultiTaskModel) => new TrainStepEngine({ model, weighting: fixedGramian(tasks.map(() => 1)), optimizer: tf.train.sgd(0.1), site: 'shared', seed: 1 });
      const a = make(recorded).taskGradients(make(recorded).prepare(batch), 'shared');
      const b = make(plain).taskGradients(make(plain).prepare(batch), 'shared');
      expect(a.gramian && a.combine).toBeTruthy();
      const weights = tf.tensor1d(tasks.map((_, t) => 0.5 + t));
      const reference = tf.tidy(() => tf.matMul(b.jacobian, b.jacobian, false, true));
      const referenceCombined = tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(weights, [1, -1]), b.jacobian), [-1]));
      const before = tf.memory().numTensors;
      const g = a.gramian!();
      const combined = a.combine!(weights);
      expect(g.shape).toEqual([count, count]);
      expect(maxAbsDiff(g, reference)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(reference.dataSync()).map(Math.abs)));
      expect(maxAbsDiff(combined, referenceCombined)).toBeLessThan(1e-5);
      tf.dispose([g, combined]);
      expect(tf.memory().numTensors).toBe(before + (count > 4 ? 1 : 0)); // J, kept once made
      expect(maxAbsDiff(a.jacobian, b.jacobian)).toBeLessThan(1e-5);
      const row = a.row(count - 1);
      const referenceRow = b.row(count - 1);
      row.forEach((part, i) => expect(maxAbsDiff(part, referenceRow[i]!)).toBeLessThan(1e-5));
      tf.dispose([...row, ...referenceRow, weights, reference, referenceCombined, batch.inputs, ...Object.values(batch.targets)]);
      const kept = tf.memory().numTensors;
      a.dispose();
      expect(tf.memory().numTensors).toBeLessThan(kept);
      b.dispose();
      recorded.dispose();
      plain.dispose();
    });
  }

  it('gradient columns of the wrong shape are BAD_CONFIG naming the variable and the expected [size, T]', () => {
    const model = tinyModel(TASKS, { seed: 2, recorded: true });
    const inner = model.encodeRecorded!.bind(model);
    model.encodeRecorded = (inputs, options): RecordedPass => {
      const pass = inner(inputs, options)!;
      const backwardColumns = (c: Tensor) => pass.backward(c); // [T, …shape]: the other layout
      return { output: pass.output, backward: (c) => pass.backward(c), backwardColumns, dispose: () => pass.dispose() };
    };
    const engine = new TrainStepEngine({ model, weighting: fixedGramian([1, 1, 1]), optimizer: tf.train.sgd(0.1), site: 'shared', seed: 1 });
    const batch = fixedBatch(12, 3);
    const before = values(model);
    const tensors = tf.memory().numTensors;
    expect(() => engine.runStep(batch)).toThrowError(/does not match sharedVariables\(\): variable '.*enc\/dense0\/kernel' got \[3, 5, 7\], expected \[35, 3\]/);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(values(model)).toEqual(before);
    tf.dispose([batch.inputs as Tensor, ...Object.values(batch.targets)]);
    model.dispose();
  });

  it('a recorded pass that does not match sharedVariables() is BAD_CONFIG naming it; nothing changes, nothing leaks', () => {
    const model = tinyModel(TASKS, { seed: 2, recorded: true });
    const inner = model.encodeRecorded!.bind(model);
    model.encodeRecorded = (inputs, options): RecordedPass => {
      const pass = inner(inputs, options)!;
      const backward = (c: Tensor) => {
        const grads = pass.backward(c);
        tf.dispose(grads.slice(3));
        return grads.slice(0, 3);
      };
      return { output: pass.output, backward, dispose: () => pass.dispose() };
    };
    const engine = new TrainStepEngine({ model, weighting: fixedGramian([1, 1, 1]), optimizer: tf.train.sgd(0.1), site: 'shared', seed: 1 });
    const batch = fixedBatch(12, 3);
    const before = values(model);
    const tensors = tf.memory().numTensors;
    try {
      engine.runStep(batch);
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error) && error.code).toBe('BAD_CONFIG');
      expect((error as Error).message).toMatch(/recorded encoder pass does not match sharedVariables\(\): 3 gradients for 4 shared variables/);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(values(model)).toEqual(before);
    tf.dispose([batch.inputs as Tensor, ...Object.values(batch.targets)]);
    model.dispose();
  });
});
