import type { ModelSpec } from '../src/index';

// Small two-task models for the tests that run every plugin: a regression and a multiclass task.
const tasks: ModelSpec['tasks'] = [
  { name: 'r', kind: 'regression', units: 1 },
  { name: 'c', kind: 'multiclass', units: 3 },
];

/** A 4-input MLP encoder of one layer of 4. */
export const spec: ModelSpec = { tasks, inputShape: [4], encoder: { type: 'mlp', units: [4] } };

/** A 4×4×1 input and two conv blocks: MTAN's attention reads a conv encoder's feature maps. */
export const conv: ModelSpec = { tasks, inputShape: [4, 4, 1], encoder: { type: 'conv', blocks: [{ filters: 2, kernelSize: 3 }, { filters: 2, kernelSize: 3 }] } };
