import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { Batch, GradientSite, MultiTaskModel, TaskSpec } from '../src/index';
import { DenseStack, equalWeighting, isMtlError, Rng, TrainStepEngine } from '../src/index';
import { fixedGramian, maxAbsDiff, tinyModel } from './fixtures';

// The engine scores tasks that share a built-in loss and a width as one group (outputs stacked
// [N, g, units], one loss pass), and at the 'features' site gets every task's feature gradient
// from one backward pass. Every number here is checked against each task computed on its own
// with tfjs's tf.losses, outside the engine.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const customCrossEntropy = (logits: Tensor, oneHot: Tensor) => tf.tidy(() => tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)) as tf.Tensor1D);

// Three groups of two or more (a/b/c, p/q, r/s) and two singles (the custom-loss task x, and u).
const TASKS: TaskSpec[] = [
  { name: 'a', kind: 'multiclass', units: 3 },
  { name: 'r', kind: 'regression', units: 2 },
  { name: 'b', kind: 'multiclass', units: 3, weight: 0.5 },
  { name: 'p', kind: 'binary', units: 1 },
  { name: 'x', kind: 'multiclass', units: 3, loss: { name: 'my-ce', fn: customCrossEntropy } },
  { name: 'c', kind: 'multiclass', units: 3 },
  { name: 'q', kind: 'binary', units: 1 },
  { name: 's', kind: 'regression', units: 2 },
  { name: 'u', kind: 'multiclass', units: 4 },
];
const N = 10;
const MASK = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1];

function groupBatch(seed = 5): Batch {
  const rng = Rng.fromSeed(seed);
  const values = (count: number, fn: () => number) => Array.from({ length: count }, fn);
  const targets: Batch['targets'] = {};
  for (const task of TASKS) {
    targets[task.name] =
      task.kind === 'regression'
        ? tf.tensor2d(values(N * task.units, () => rng.normal()), [N, task.units])
        : tf.tensor1d(values(N, () => rng.int(task.kind === 'binary' ? 2 : task.units)), 'int32');
  }
  // Task b and task q are partly labelled: b's unlabelled rows hold an out-of-range class.
  const b = targets['b']!.arraySync() as number[];
  targets['b']!.dispose();
  targets['b'] = tf.tensor1d(b.map((label, i) => (MASK[i] ? label : 7)), 'int32');
  return {
    inputs: tf.tensor2d(values(N * 5, () => rng.normal()), [N, 5]),
    targets,
    masks: { b: tf.tensor1d(MASK), q: tf.tensor1d([...MASK].reverse()) },
  };
}

function disposeBatch(batch: Batch): void {
  tf.dispose([batch.inputs as Tensor, ...Object.values(batch.targets), ...Object.values(batch.masks ?? {})] as Tensor[]);
}

/** One task's loss from its own output, with tf.losses (weights = the 0/1 mask). */
function referenceLoss(task: TaskSpec, output: Tensor, batch: Batch): Scalar {
  const target = batch.targets[task.name]!;
  const mask = batch.masks?.[task.name];
  const weights = mask ? tf.reshape(mask, [N, 1]) : undefined;
  if (task.kind === 'regression') return tf.losses.meanSquaredError(target, output, weights) as Scalar;
  if (task.kind === 'binary') return tf.losses.sigmoidCrossEntropy(tf.reshape(target, [N, 1]), output, weights) as Scalar;
  const labels = mask ? tf.where(tf.greater(mask, 0), target, tf.zerosLike(target)) : target;
  // softmaxCrossEntropy's per-example losses are [N], so its weights are [N].
  return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(labels, 'int32'), task.units), output, mask) as Scalar;
}

function taskLoss(model: MultiTaskModel, task: TaskSpec, batch: Batch, features?: Tensor): Scalar {
  const f = features ?? (model.encode(batch.inputs, { training: true }) as Tensor);
  return referenceLoss(task, model.decode(f, batch.inputs, { training: true }, [task.name])[task.name]!, batch);
}

describe('tasks that share a loss and a width are scored as one group', () => {
  for (const stacked of [false, true]) {
    const how = stacked ? 'with decodeStacked' : 'from decode';
    it(`loss level (${how}): step losses and the update equal each task computed alone`, () => {
      const model = tinyModel(TASKS, { seed: 3, stacked });
      const batch = groupBatch();
      const variables = [...model.sharedVariables(), ...TASKS.flatMap((t) => model.taskVariables(t.name))];
      const expectedLosses = TASKS.map((task) => tf.tidy(() => taskLoss(model, task, batch).dataSync()[0]!));
      const { value, grads } = tf.variableGrads(
        () => tf.addN(TASKS.map((task) => tf.mul(taskLoss(model, task, batch), task.weight ?? 1))) as Scalar,
        variables,
      );
      const before = variables.map((v) => tf.clone(v));
      const engine = new TrainStepEngine({ model, weighting: equalWeighting(), optimizer: tf.train.sgd(1), seed: 1 });
      const report = engine.runStep(batch);
      let worstLoss = 0;
      TASKS.forEach((task, k) => (worstLoss = Math.max(worstLoss, Math.abs(report.losses[task.name]! - expectedLosses[k]!))));
      let worstUpdate = 0;
      variables.forEach((v, i) => {
        const step = tf.sub(before[i]!, v);
        worstUpdate = Math.max(worstUpdate, maxAbsDiff(step, grads[v.name]!));
        step.dispose();
      });
      console.log(`grouped loss level (${how}): max |loss − reference| ${worstLoss.toExponential(2)}, max |update − reference| ${worstUpdate.toExponential(2)}`);
      expect(worstLoss).toBeLessThan(1e-6);
      expect(worstUpdate).toBeLessThan(1e-5);
      expect(report.loss).toBeCloseTo(TASKS.reduce((sum, task, k) => sum + (task.weight ?? 1) * expectedLosses[k]!, 0), 5);
      tf.dispose([value, ...Object.values(grads), ...before]);
      engine.dispose();
      model.dispose();
      disposeBatch(batch);
    });

    for (const site of ['features', 'shared'] as GradientSite[]) {
      it(`site '${site}' (${how}): each task's gradient row, head gradients and loss equal tf.grad of that task alone`, () => {
        const model = tinyModel(TASKS, { seed: 4, stacked });
        const batch = groupBatch(6);
        const engine = new TrainStepEngine({ model, weighting: fixedGramian(TASKS.map(() => 1)), optimizer: tf.train.sgd(0.1), site, seed: 1 });
        const prepared = engine.prepare(batch);
        const gradients = engine.taskGradients(prepared, site);
        expect(gradients.jacobian.shape[0]).toBe(TASKS.length);
        let worst = 0;
        TASKS.forEach((task, k) => {
          const c = task.weight ?? 1;
          const row = gradients.row(k);
          if (site === 'features') {
            const features = model.encode(batch.inputs, { training: true }) as Tensor;
            const expected = tf.grad((f: Tensor) => tf.mul(taskLoss(model, task, batch, f), c))(features);
            worst = Math.max(worst, maxAbsDiff(row[0]!, expected));
            tf.dispose([features, expected]);
          } else {
            const shared = model.sharedVariables();
            const { value, grads } = tf.variableGrads(() => tf.mul(taskLoss(model, task, batch), c) as Scalar, shared);
            shared.forEach((v, i) => (worst = Math.max(worst, maxAbsDiff(row[i]!, grads[v.name]!))));
            tf.dispose([value, ...Object.values(grads)]);
          }
          const heads = model.taskVariables(task.name);
          const { value, grads } = tf.variableGrads(() => tf.mul(taskLoss(model, task, batch), c) as Scalar, heads);
          heads.forEach((v) => (worst = Math.max(worst, maxAbsDiff(gradients.heads[k]![v.name]!, grads[v.name]!))));
          expect(Math.abs(gradients.losses.dataSync()[k]! - tf.tidy(() => taskLoss(model, task, batch).dataSync()[0]!))).toBeLessThan(1e-6);
          tf.dispose([value, ...Object.values(grads), ...row]);
        });
        console.log(`grouped site '${site}' (${how}): max |engine − tf.grad per task| = ${worst.toExponential(2)}`);
        expect(worst).toBeLessThan(1e-5);
        gradients.dispose();
        prepared.dispose();
        engine.dispose();
        model.dispose();
        disposeBatch(batch);
      });
    }
  }

  it('no tensor is left behind over 60 steps (loss level and the features site, grouped and stacked)', () => {
    const batch = groupBatch(7);
    for (const site of [undefined, 'features'] as const) {
      const model = tinyModel(TASKS, { seed: 5, stacked: true });
      const engine = new TrainStepEngine({
        model,
        weighting: site ? fixedGramian(TASKS.map(() => 1)) : equalWeighting(),
        optimizer: tf.train.adam(1e-3),
        ...(site ? { site } : {}),
        seed: 1,
      });
      engine.runStep(batch); // optimiser slots
      const before = tf.memory().numTensors;
      for (let i = 0; i < 60; i++) engine.runStep(batch);
      expect(tf.memory().numTensors).toBe(before);
      engine.dispose();
      model.dispose();
    }
    disposeBatch(batch);
  });

  it("a decodeStacked of the wrong shape is refused with SHAPE_MISMATCH naming the group's tasks", () => {
    const model = tinyModel(TASKS, { seed: 3 });
    model.decodeStacked = () => tf.zeros([N, 2, 3]);
    const batch = groupBatch();
    const engine = new TrainStepEngine({ model, weighting: equalWeighting(), optimizer: tf.train.sgd(0.1), seed: 1 });
    const before = tf.memory().numTensors;
    let caught: unknown;
    try {
      engine.runStep(batch);
    } catch (error) {
      caught = error;
    }
    expect(isMtlError(caught) && caught.code).toBe('SHAPE_MISMATCH');
    expect((caught as Error).message).toContain("'a', 'b', 'c'");
    expect(tf.memory().numTensors).toBe(before);
    engine.dispose();
    model.dispose();
    disposeBatch(batch);
  });
});

describe('DenseStack.applyStacked', () => {
  const build = (units: number[], scope: string, activation: 'relu' | 'tanh' = 'relu') =>
    new DenseStack({ inputSize: 6, units, activation, outputActivation: 'linear', scope, rng: Rng.fromSeed(scope.length) });

  for (const units of [[3], [4, 3]]) {
    it(`equals each stack applied alone, stacked on axis 1 (widths [${units.join(', ')}])`, () => {
      const stacks = [build(units, `s${units.length}a`), build(units, `s${units.length}bb`), build(units, `s${units.length}ccc`)];
      const x = tf.randomNormal([8, 6], 0, 1, 'float32', 3);
      const together = DenseStack.applyStacked(stacks, x)!;
      const alone = tf.stack(stacks.map((s) => s.apply(x, { training: true })), 1);
      expect(together.shape).toEqual([8, 3, 3]);
      expect(maxAbsDiff(together, alone)).toBeLessThan(1e-6);
      tf.dispose([x, together, alone]);
      stacks.forEach((s) => s.dispose());
    });
  }

  // The kernels side by side are built end to end and transposed ([k, in, u] → [in, k, u]); the
  // gradient goes back the same way. Checked against tfjs's autodiff of each stack alone.
  for (const units of [[3], [4, 3]]) {
    it(`each stack's variable gradients through the stacked pass equal those of the stack alone (widths [${units.join(', ')}])`, () => {
      const stacks = [0, 1, 2, 3].map((i) => build(units, `g${units.length}-${'x'.repeat(i + 1)}`));
      const x = tf.randomNormal([8, 6], 0, 1, 'float32', 5);
      const weights = tf.randomNormal([8, 4, 3], 0, 1, 'float32', 6);
      const variables = stacks.flatMap((s) => s.variables());
      const together = tf.variableGrads(() => tf.sum(tf.mul(DenseStack.applyStacked(stacks, x)!, weights)) as tf.Scalar, variables);
      stacks.forEach((stack, i) => {
        const w = tf.squeeze(tf.slice(weights, [0, i, 0], [-1, 1, -1]), [1]);
        const alone = tf.variableGrads(() => tf.sum(tf.mul(stack.apply(x, { training: true }), w)) as tf.Scalar, stack.variables());
        for (const v of stack.variables()) expect(maxAbsDiff(together.grads[v.name]!, alone.grads[v.name]!), v.name).toBeLessThan(1e-5);
        tf.dispose([w, alone.value, ...Object.values(alone.grads)]);
      });
      tf.dispose([x, weights, together.value, ...Object.values(together.grads)]);
      stacks.forEach((s) => s.dispose());
    });
  }

  it('k linear heads are one matMul; stacks of different structure give null', async () => {
    const heads = Array.from({ length: 40 }, (_, i) => build([10], `lin${i}`));
    const x = tf.randomNormal([16, 6], 0, 1, 'float32', 4);
    const profile = await tf.profile(() => tf.dispose(DenseStack.applyStacked(heads, x)!));
    expect(profile.kernels.filter((k) => k.name === 'BatchMatMul')).toHaveLength(1);
    expect(DenseStack.applyStacked([heads[0]!, build([4, 10], 'deep')], x)).toBeNull();
    expect(DenseStack.applyStacked([build([4, 10], 'deep-relu'), build([4, 10], 'deep-tanh', 'tanh')], x)).toBeNull();
    expect(DenseStack.applyStacked([], x)).toBeNull();
    tf.dispose(x);
    heads.forEach((h) => h.dispose());
  });
});
