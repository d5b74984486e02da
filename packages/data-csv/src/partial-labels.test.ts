import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, type MultiTaskModel, type RecordMapping, type StepReport } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvSource, fitCsvSchema } from './index';

// Acceptance: a CSV with empty target cells trains with masks, and each task's loss is the mean
// over its labelled rows only. The model's weights are set so its outputs are known constants.

let dir: string;
let path: string;

// reg is labelled on rows 0, 2, 4, 5; cls on rows 0-3 (classes a, b, c by first appearance).
const CSV = ['x1,x2,reg,cls', '1,2,1.0,a', '3,4,,b', '5,6,2.0,c', '7,8,,a', '0,1,4.0,', '2,2,3.0,', ''].join('\n');
const MAPPING: RecordMapping = { inputs: ['x1', 'x2'], tasks: { reg: { kind: 'regression', column: 'reg' }, cls: { kind: 'multiclass', column: 'cls' } } };
const REG_BIAS = 0.5;
const CLS_LOGITS = [1, 0, -1];

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'mtljs-data-csv-partial-'));
  path = join(dir, 'partial.csv');
  writeFileSync(path, CSV);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Zero kernels and biases, so every output is its head's bias: reg → 0.5, cls → logits [1, 0, −1]. */
function constantOutputs(model: MultiTaskModel): void {
  const current = model.getWeights();
  const weights: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(current)) {
    weights[key] = key === 'hard/head/reg/dense0/bias' ? tf.tensor1d([REG_BIAS]) : key === 'hard/head/cls/dense0/bias' ? tf.tensor1d(CLS_LOGITS) : tf.zerosLike(value);
    value.dispose();
  }
  expect(Object.keys(weights)).toContain('hard/head/cls/dense0/bias');
  model.setWeights(weights);
  Object.values(weights).forEach((t) => t.dispose());
}

const logSumExp = Math.log(CLS_LOGITS.reduce((sum, z) => sum + Math.exp(z), 0));
/** Cross-entropy of the constant logits for class c. */
const crossEntropy = (c: number) => logSumExp - CLS_LOGITS[c]!;
const squaredError = (y: number) => (y - REG_BIAS) ** 2;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function setup(batchSize: number, learningRate: number) {
  const schema = await fitCsvSchema(path, MAPPING);
  expect(schema.toJSON().tasks.map((t) => t.labelled)).toEqual([4, 4]);
  const model = hardSharing().build({ tasks: schema.tasks, inputShape: [schema.inputWidth], encoder: { type: 'mlp', units: [4] } }, { seed: 3 });
  constantOutputs(model);
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate }, seed: 1 });
  const reports: StepReport[] = [];
  await trainer.fit(csvSource(path, { schema, batchSize }), { epochs: 1, shuffle: false, callbacks: { onStep: (r) => void reports.push(r) } });
  return { model, trainer, reports };
}

describe('partial labels from empty CSV cells', () => {
  it("the first step's per-task losses are the masked means over labelled rows only", async () => {
    const { model, trainer, reports } = await setup(6, 0.1);
    expect(reports).toHaveLength(1);
    const [first] = reports;
    expect(first!.active).toEqual({ reg: true, cls: true });
    // reg: rows 0, 2, 4, 5 (targets 1, 2, 4, 3); the unlabelled rows' zero targets are not counted.
    expect(first!.losses.reg).toBeCloseTo(mean([1, 2, 4, 3].map(squaredError)), 5);
    expect(first!.losses.reg).toBeCloseTo(5.25, 5);
    // cls: rows 0-3 (classes a, b, c, a → 0, 1, 2, 0).
    expect(first!.losses.cls).toBeCloseTo(mean([0, 1, 2, 0].map(crossEntropy)), 5);
    // The step trained: the regression head's bias moved towards the labelled targets' mean.
    const after = model.getWeights();
    expect(after['hard/head/reg/dense0/bias']!.dataSync()[0]).toBeGreaterThan(REG_BIAS);
    Object.values(after).forEach((t) => t.dispose());
    trainer.dispose();
    model.dispose();
  });

  it('per batch: each task averages over its own labelled rows, and a task with none is inactive', async () => {
    // Learning rate 0 keeps the outputs constant, so every step has a hand-computed loss.
    const { model, trainer, reports } = await setup(2, 0);
    expect(reports).toHaveLength(3);
    expect(reports[0]!.losses.reg).toBeCloseTo(squaredError(1), 5);
    expect(reports[0]!.losses.cls).toBeCloseTo(mean([crossEntropy(0), crossEntropy(1)]), 5);
    expect(reports[1]!.losses.reg).toBeCloseTo(squaredError(2), 5);
    expect(reports[1]!.losses.cls).toBeCloseTo(mean([crossEntropy(2), crossEntropy(0)]), 5);
    expect(reports[2]!.losses.reg).toBeCloseTo(mean([squaredError(4), squaredError(3)]), 5);
    expect(reports[2]!.active.cls).toBe(false);
    expect(reports[2]!.losses.cls).toBeNaN();
    const evaluation = await trainer.evaluate(csvSource(path, { columns: MAPPING, batchSize: 4 }));
    expect(evaluation.tasks.reg!.count).toBe(4);
    expect(evaluation.tasks.cls!.count).toBe(4);
    expect(evaluation.tasks.reg!.loss).toBeCloseTo(5.25, 5);
    trainer.dispose();
    model.dispose();
  });
});
