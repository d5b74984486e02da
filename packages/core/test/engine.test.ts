import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Scalar } from '@tensorflow/tfjs-core';
import type { Batch, GradientSite, MultiTaskModel, TaskSpec, Weighting } from '../src/index';
import { isMtlError, staticWeighting, TrainStepEngine, equalWeighting, Trainer, createRegistry } from '../src/index';
import { disposeAll, fixedBatch, fixedGramian, fixedJacobian, maxAbsDiff, TASKS, tinyModel } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Each task's loss written independently of the engine, with tfjs's own tf.losses.
function referenceLoss(task: TaskSpec, output: tf.Tensor, batch: Batch, mask?: tf.Tensor1D): Scalar {
  const target = batch.targets[task.name]!;
  const n = output.shape[0]!;
  const weights = mask ? tf.reshape(mask, [n, 1]) : undefined;
  switch (task.kind) {
    case 'regression':
      return tf.losses.meanSquaredError(target, output, weights) as Scalar;
    case 'multiclass':
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(target, 'int32'), task.units), output, weights) as Scalar;
    default:
      return tf.losses.sigmoidCrossEntropy(tf.reshape(target, [n, 1]), output, weights) as Scalar;
  }
}

function engineFor(model: MultiTaskModel, weighting: Weighting<any>, site?: GradientSite, lr = 0.1) {
  return new TrainStepEngine({ model, weighting, optimizer: tf.train.sgd(lr), site, seed: 0 });
}

const SITES: GradientSite[] = ['shared', 'last-shared', 'features'];

describe('per-task gradients at each site equal tf.variableGrads taken task by task', () => {
  for (const site of SITES) {
    it(`site '${site}' (with a partially labelled task)`, () => {
      const model = tinyModel(TASKS, { seed: 11 });
      const batch = fixedBatch(10, 3);
      const mask = tf.tensor1d([1, 0, 1, 1, 0, 1, 1, 1, 0, 1]);
      batch.masks = { reg: mask };
      const engine = engineFor(model, fixedGramian([1, 1, 1]), site);
      const prepared = engine.prepare(batch);
      const gradients = engine.taskGradients(prepared, site);
      let worst = 0;
      TASKS.forEach((task, k) => {
        const taskMask = task.name === 'reg' ? mask : undefined;
        const loss = (features?: tf.Tensor) =>
          referenceLoss(task, model.decode(features ?? model.encode(batch.inputs, { training: true }), batch.inputs, { training: true }, [task.name])[task.name]!, batch, taskMask);
        if (site === 'features') {
          const features = model.encode(batch.inputs, { training: true }) as tf.Tensor;
          const expected = tf.grad((f: tf.Tensor) => loss(f))(features);
          const row = gradients.row(k);
          worst = Math.max(worst, maxAbsDiff(row[0]!, expected));
          tf.dispose(row);
          expect(Math.abs(gradients.losses.dataSync()[k]! - loss().dataSync()[0]!)).toBeLessThan(1e-6);
          tf.dispose([features, expected]);
        } else {
          const variables = site === 'shared' ? model.sharedVariables() : model.lastSharedVariables();
          const { grads, value } = tf.variableGrads(() => loss(), variables);
          const row = gradients.row(k);
          variables.forEach((v, i) => (worst = Math.max(worst, maxAbsDiff(row[i]!, grads[v.name]!))));
          expect(Math.abs(gradients.losses.dataSync()[k]! - value.dataSync()[0]!)).toBeLessThan(1e-6);
          tf.dispose(row);
          disposeAll(grads);
          value.dispose();
        }
        if (site !== 'last-shared') {
          const heads = model.taskVariables(task.name);
          const { grads, value } = tf.variableGrads(() => loss(), heads);
          heads.forEach((v) => (worst = Math.max(worst, maxAbsDiff(gradients.heads[k]![v.name]!, grads[v.name]!))));
          disposeAll(grads);
          value.dispose();
        }
      });
      expect(gradients.jacobian.shape[0]).toBe(3);
      console.log(`site '${site}': max |engine − tf.variableGrads| = ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-5);
      // A row outside the active tasks is named, not a tfjs slice error.
      for (const k of [-1, 3, 1.5]) expect(() => gradients.row(k)).toThrow(/TaskGradients\.row\(.*\): there are 3 active tasks/);
      // Rows are cut once and freed with the gradients: nothing is left behind.
      const before = tf.memory().numTensors;
      gradients.dispose();
      expect(tf.memory().numTensors).toBeLessThan(before);
      prepared.dispose();
      model.dispose();
    });
  }
});

describe('a weighting of fixed weights w gives the shared update of static weighting Σ w_t L_t', () => {
  const w = [0.3, 1.7, 0.6];
  const cases: [string, () => Weighting<any>, GradientSite][] = [
    ...SITES.map((site) => [`gramian at '${site}'`, () => fixedGramian(w), site] as [string, () => Weighting<any>, GradientSite]),
    ['jacobian at shared', () => fixedJacobian(w), 'shared'],
    ['jacobian at features', () => fixedJacobian(w), 'features'],
  ];
  for (const [label, weighting, site] of cases) {
    for (const penalty of [0, 0.05]) {
      it(`${label}${penalty ? ' with a model penalty' : ''}`, () => {
        const reference = tinyModel(TASKS, { seed: 5, penalty });
        const tested = tinyModel(TASKS, { seed: 5, penalty });
        const batch = fixedBatch(12, 9);
        const referenceReport = engineFor(reference, staticWeighting({ weights: { reg: w[0]!, cls: w[1]!, bin: w[2]! } })).runStep(batch);
        const report = engineFor(tested, weighting(), site).runStep(batch);
        let worst = 0;
        reference.sharedVariables().forEach((v, i) => (worst = Math.max(worst, maxAbsDiff(v, tested.sharedVariables()[i]!))));
        console.log(`${label}${penalty ? ' + penalty' : ''}: max |shared update − static Σ w_t L_t update| = ${worst.toExponential(2)}`);
        expect(worst).toBeLessThanOrEqual(1e-5);
        // the shared variables did move
        const fresh = tinyModel(TASKS, { seed: 5 });
        expect(maxAbsDiff(fresh.sharedVariables()[0]!, tested.sharedVariables()[0]!)).toBeGreaterThan(1e-4);
        expect(report.weights).toEqual({ reg: w[0], cls: w[1], bin: w[2] });
        for (const task of TASKS) expect(report.losses[task.name]).toBeCloseTo(referenceReport.losses[task.name]!, 6);
        [reference, tested, fresh].forEach((m) => m.dispose());
        tf.dispose(Object.values(batch.targets) as tf.Tensor[]);
      });
    }
  }

  it("heads get their own task's unweighted gradient at gradient levels", () => {
    const a = tinyModel(TASKS, { seed: 5 });
    const b = tinyModel(TASKS, { seed: 5 });
    const batch = fixedBatch(12, 9);
    engineFor(a, fixedGramian([0.1, 5, 2]), 'shared').runStep(batch);
    engineFor(b, equalWeighting()).runStep(batch);
    for (const task of TASKS) {
      a.taskVariables(task.name).forEach((v, i) => expect(maxAbsDiff(v, b.taskVariables(task.name)[i]!)).toBeLessThanOrEqual(1e-6));
    }
    a.dispose();
    b.dispose();
  });

  it("a task's importance c_t scales its term like a static weight", () => {
    const weighted = tinyModel(TASKS.map((t) => (t.name === 'cls' ? { ...t, weight: 2.5 } : t)), { seed: 8 });
    const reference = tinyModel(TASKS, { seed: 8 });
    const batch = fixedBatch(12, 4);
    const report = engineFor(weighted, fixedGramian([1, 1, 1]), 'shared').runStep(batch);
    engineFor(reference, staticWeighting({ weights: { cls: 2.5 } })).runStep(batch);
    reference.sharedVariables().forEach((v, i) => expect(maxAbsDiff(v, weighted.sharedVariables()[i]!)).toBeLessThanOrEqual(1e-5));
    expect(report.losses.cls).toBeGreaterThan(0); // reported raw, not scaled
    weighted.dispose();
    reference.dispose();
  });
});

describe('masks: a task without a labelled example is inactive and its head is untouched', () => {
  const configurations: [string, () => Weighting<any>, GradientSite | undefined][] = [
    ['loss level (EW)', () => equalWeighting(), undefined],
    ...SITES.map((site) => [`gramian at '${site}'`, () => fixedGramian([1, 1, 1]), site] as [string, () => Weighting<any>, GradientSite]),
    ['jacobian at shared', () => fixedJacobian([1, 1, 1]), 'shared'],
    ['jacobian at features', () => fixedJacobian([1, 1, 1]), 'features'],
  ];
  for (const [label, weighting, site] of configurations) {
    it(label, () => {
      const model = tinyModel(TASKS, { seed: 2 });
      const seen: string[][] = [];
      const base = weighting();
      const spy: Weighting<any> =
        base.level === 'loss'
          ? { ...base, combine: (l, s, info) => (seen.push([...info.activeTasks]), base.combine(l, s, info)) }
          : base.level === 'gramian'
            ? { ...base, weigh: (g, l, s, info) => (seen.push([...info.activeTasks]), expect(g.shape).toEqual([2, 2]), base.weigh(g, l, s, info)) }
            : { ...base, aggregate: (j, l, s, info) => (seen.push([...info.activeTasks]), expect(j.shape[0]).toBe(2), base.aggregate(j, l, s, info)) };
      const batch = fixedBatch(8, 1);
      batch.targets.bin = undefined;
      batch.masks = { bin: tf.zeros([8]), reg: tf.tensor1d([1, 1, 0, 0, 1, 0, 1, 1]) };
      const before = model.taskVariables('bin').map((v) => tf.clone(v));
      const beforeCls = model.taskVariables('cls').map((v) => tf.clone(v));
      const report = engineFor(model, spy, site).runStep(batch);
      expect(report.active).toEqual({ reg: true, cls: true, bin: false });
      expect(report.losses.bin).toBeNaN();
      expect(report.weights.bin).toBe(0);
      expect(seen).toEqual([['reg', 'cls']]);
      model.taskVariables('bin').forEach((v, i) => expect(maxAbsDiff(v, before[i]!)).toBe(0));
      expect(Math.max(...model.taskVariables('cls').map((v, i) => maxAbsDiff(v, beforeCls[i]!)))).toBeGreaterThan(0);
      tf.dispose([...before, ...beforeCls]);
      model.dispose();
    });
  }

  it('placeholder targets (NaN) on unlabelled rows do not reach the loss or the update', () => {
    const model = tinyModel(TASKS, { seed: 2 });
    const batch = fixedBatch(6, 1);
    batch.targets.reg = tf.tensor2d([1, 2, NaN, NaN, 0.5, 0.1, NaN, 3, 1, 1, 2, 2], [6, 2]);
    batch.masks = { reg: tf.tensor1d([1, 0, 1, 0, 1, 1]) };
    for (const site of SITES) {
      const report = engineFor(model, fixedGramian([1, 1, 1]), site).runStep(batch);
      expect(Number.isFinite(report.losses.reg)).toBe(true);
    }
    const report = engineFor(model, equalWeighting()).runStep(batch);
    expect(Number.isFinite(report.loss)).toBe(true);
    model.sharedVariables().forEach((v) => expect(tf.all(tf.isFinite(v)).dataSync()[0]).toBe(1));
    model.dispose();
  });
});

describe('no tensor leaks over 100 trainer steps, for each level × site', () => {
  const configurations: [string, () => Weighting<any>, GradientSite | undefined][] = [
    ['loss level (EW)', () => equalWeighting(), undefined],
    ['loss level (static)', () => staticWeighting({ weights: { reg: 2 } }), undefined],
    ...SITES.map((site) => [`gramian at '${site}'`, () => fixedGramian([0.5, 1, 2]), site] as [string, () => Weighting<any>, GradientSite]),
    ['jacobian at shared', () => fixedJacobian([1, 2, 3]), 'shared'],
    ['jacobian at features', () => fixedJacobian([1, 2, 3]), 'features'],
  ];
  for (const [label, weighting, site] of configurations) {
    it(label, () => {
      const model = tinyModel(TASKS, { seed: 3, penalty: 0.01 });
      const trainer = new Trainer({ model, weighting: weighting(), site, optimizer: { name: 'adam', learningRate: 0.01 } });
      const batch = fixedBatch(8, 2);
      batch.masks = { bin: tf.tensor1d([1, 0, 1, 0, 1, 0, 1, 0]) };
      trainer.step(batch); // warm-up: Adam creates its slot variables on the first step
      const before = tf.memory().numTensors;
      for (let i = 0; i < 100; i++) trainer.step(batch);
      expect(tf.memory().numTensors).toBe(before);
      expect(trainer.stepCount).toBe(101);
      trainer.dispose();
      model.dispose();
    });
  }
});

describe('bad input gives an MtlError with a code and the task', () => {
  it('unknown weighting name lists the available ones', () => {
    const model = tinyModel(TASKS);
    const registry = createRegistry();
    registry.register(staticWeighting({ weights: {} }));
    registry.register(equalWeighting());
    let error: unknown;
    try {
      new Trainer({ model, weighting: 'pcgrd', registry });
    } catch (e) {
      error = e;
    }
    expect(isMtlError(error, 'UNKNOWN_PLUGIN')).toBe(true);
    expect((error as Error).message).toContain("'pcgrd'");
    expect((error as Error).message).toContain('ew, static');
    model.dispose();
  });

  it('targets whose shape does not match the task units name the task', () => {
    const model = tinyModel(TASKS);
    const batch = fixedBatch(6);
    batch.targets.reg = tf.zeros([6, 3]);
    const engine = engineFor(model, equalWeighting());
    expect(() => engine.runStep(batch)).toThrowError(/task 'reg'.*\[6, 3\].*expected \[6, 2\]/);
    try {
      engine.runStep(batch);
    } catch (e) {
      expect(isMtlError(e, 'SHAPE_MISMATCH')).toBe(true);
      expect((e as { details: { task: string } }).details.task).toBe('reg');
    }
    batch.targets.reg = tf.zeros([5, 2]);
    expect(() => engine.runStep(batch)).toThrowError(/task 'reg': targets have 5 rows but the batch has 6/);
    model.dispose();
  });

  it('a batch missing a task without a mask names the task', () => {
    const model = tinyModel(TASKS);
    const batch = fixedBatch(6);
    delete batch.targets.cls;
    const engine = engineFor(model, equalWeighting());
    let error: unknown;
    try {
      engine.runStep(batch);
    } catch (e) {
      error = e;
    }
    expect(isMtlError(error, 'BAD_DATA')).toBe(true);
    expect((error as Error).message).toContain("task 'cls'");
    expect(engine.step).toBe(0);
    model.dispose();
  });

  it('targets for a task the model lacks name it', () => {
    const model = tinyModel(TASKS);
    const batch = fixedBatch(6);
    batch.targets.clss = tf.zeros([6]);
    expect(() => engineFor(model, equalWeighting()).runStep(batch)).toThrowError(/task 'clss'.*reg, cls, bin/);
    model.dispose();
  });

  const nonFinite: [string, () => Weighting<any>, GradientSite | undefined][] = [
    ['loss level', () => equalWeighting(), undefined],
    ...SITES.map((site) => [`gramian at '${site}'`, () => fixedGramian([1, 1, 1]), site] as [string, () => Weighting<any>, GradientSite]),
    ['jacobian at features', () => fixedJacobian([1, 1, 1]), 'features'],
  ];
  for (const [label, weighting, site] of nonFinite) {
    it(`a non-finite loss names the task and updates nothing (${label})`, () => {
      const model = tinyModel(TASKS);
      const engine = engineFor(model, weighting(), site);
      const good = fixedBatch(6);
      engine.runStep(good);
      const state = JSON.stringify(engine.weightingState);
      const batch = fixedBatch(6);
      batch.targets.reg = tf.tensor2d([1, 2, Infinity, 0, 0, 0, 0, 0, 0, 0, 0, 0], [6, 2]);
      const before = [...model.sharedVariables(), ...TASKS.flatMap((t) => model.taskVariables(t.name))].map((v) => tf.clone(v));
      const tensorsBefore = tf.memory().numTensors;
      let error: unknown;
      try {
        engine.runStep(batch);
      } catch (e) {
        error = e;
      }
      expect(isMtlError(error, 'NON_FINITE_LOSS')).toBe(true);
      expect((error as Error).message).toContain("task 'reg'");
      expect((error as { details: { task: string } }).details.task).toBe('reg');
      [...model.sharedVariables(), ...TASKS.flatMap((t) => model.taskVariables(t.name))].forEach((v, i) => expect(maxAbsDiff(v, before[i]!)).toBe(0));
      expect(engine.step).toBe(1);
      expect(JSON.stringify(engine.weightingState)).toBe(state);
      expect(tf.memory().numTensors).toBe(tensorsBefore); // nothing leaked on the error path
      tf.dispose(before);
      model.dispose();
    });
  }

  it('a weighting that gives a NaN weight is refused before the update', () => {
    const model = tinyModel(TASKS);
    const engine = engineFor(model, fixedGramian([1, Number.NaN, 1]), 'shared');
    const before = model.sharedVariables().map((v) => tf.clone(v));
    expect(() => engine.runStep(fixedBatch(6))).toThrowError(/fixed-gramian.*non-finite weight for task 'cls'/);
    model.sharedVariables().forEach((v, i) => expect(maxAbsDiff(v, before[i]!)).toBe(0));
    model.dispose();
  });

  it('a site the weighting does not support is refused with the ones it does', () => {
    const model = tinyModel(TASKS);
    expect(() => engineFor(model, fixedJacobian([1, 1, 1]), 'last-shared')).toThrowError(/does not support site 'last-shared'; it supports: shared, features/);
    expect(() => engineFor(model, equalWeighting(), 'shared')).toThrowError(/takes no gradient site/);
    model.dispose();
  });
});
