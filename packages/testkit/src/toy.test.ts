import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { equalWeighting, Trainer } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { toyGradients, toyObjectives, toyProblem, TOY_STARTS, twoGradientMinNorm } from './toy';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('the CAGrad toy problem', () => {
  it('objectives match the formula worked by hand at two points', () => {
    // x = (0, 10): c1 = tanh(5), c2 = 0; g1 = log|−3.5 − tanh(−10)| + 6, g2 = log|1.5 + tanh(−10) + 2| + 6
    const [f1, f2] = toyObjectives(0, 10);
    expect(f1).toBeCloseTo(Math.tanh(5) * (Math.log(Math.abs(-3.5 - Math.tanh(-10))) + 6), 12);
    expect(f2).toBeCloseTo(Math.tanh(5) * (Math.log(Math.abs(1.5 + Math.tanh(-10) + 2)) + 6), 12);
    // x = (0, −10): c1 = 0, c2 = tanh(5); h1 = (49 + 0.1·4)/10 − 20, h2 = (49 + 0.4)/10 − 20
    const [h1, h2] = toyObjectives(0, -10);
    expect(h1).toBeCloseTo(Math.tanh(5) * ((49 + 0.4) / 10 - 20), 12);
    expect(h2).toBeCloseTo(Math.tanh(5) * ((49 + 0.4) / 10 - 20), 12);
  });

  it('the model gives the objectives as task losses and their gradients through the engine', () => {
    const toy = toyProblem([-8.5, -5]);
    const trainer = new Trainer({ model: toy.model, weighting: equalWeighting(), optimizer: { name: 'sgd', learningRate: 0 } });
    const report = trainer.step(toy.batch);
    const [f1, f2] = toyObjectives(-8.5, -5);
    expect(report.losses.f1).toBeCloseTo(f1, 4);
    expect(report.losses.f2).toBeCloseTo(f2, 4);
    const prepared = trainer.engine.prepare(toy.batch);
    const gradients = trainer.engine.taskGradients(prepared, 'shared');
    const [g1, g2] = toyGradients(-8.5, -5);
    const [row1, row2] = [gradients.row(0), gradients.row(1)];
    expect(Array.from(row1[0]!.dataSync())).toEqual(g1.map((v) => expect.closeTo(v, 4)));
    expect(Array.from(row2[0]!.dataSync())).toEqual(g2.map((v) => expect.closeTo(v, 4)));
    tf.dispose([...row1, ...row2]);
    gradients.dispose();
    prepared.dispose();
    trainer.dispose();
    toy.dispose();
  });

  it('EW with Adam moves every start down the summed objective', () => {
    for (const start of TOY_STARTS) {
      const toy = toyProblem(start);
      const trainer = new Trainer({ model: toy.model, optimizer: { name: 'adam', learningRate: 0.01 } });
      const first = trainer.step(toy.batch).loss;
      let last = first;
      for (let i = 0; i < 300; i++) last = trainer.step(toy.batch).loss;
      expect(last).toBeLessThan(first);
      trainer.dispose();
      toy.dispose();
    }
  });

  it('twoGradientMinNorm: 0 for opposite gradients, the shorter vector when one dominates', () => {
    expect(twoGradientMinNorm([1, 0], [-2, 0])).toBeCloseTo(0, 12);
    expect(twoGradientMinNorm([1, 0], [3, 0])).toBeCloseTo(1, 12);
    // orthogonal unit vectors: the midpoint, norm √2/2
    expect(twoGradientMinNorm([1, 0], [0, 1])).toBeCloseTo(Math.SQRT1_2, 12);
  });
});
