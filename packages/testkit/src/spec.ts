import type { ModelSpec } from '@mtljs/core';

/** Three tasks of three kinds on a 6-feature input and a two-layer MLP encoder. */
export function defaultSharingSpec(): ModelSpec {
  return {
    tasks: [
      { name: 'regression', kind: 'regression', units: 1 },
      { name: 'multiclass', kind: 'multiclass', units: 3 },
      { name: 'binary', kind: 'binary', units: 1 },
    ],
    inputShape: [6],
    encoder: { type: 'mlp', units: [8, 4] },
  };
}
