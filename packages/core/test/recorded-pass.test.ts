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

  it('takes a rank-3 input by flattening it, leaves the caller its input, and frees what it kept', () => {
    const layers = stack('relu', 'linear');
    const x = tf.randomNormal([4, 1, 5], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 40; i++) {
      const pass = layers.record(x, { training: true });
      const cotangents = tf.ones([2, 4, 4]);
      tf.dispose([...pass.backward(cotangents), cotangents]);
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
