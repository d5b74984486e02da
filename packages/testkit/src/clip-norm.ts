import type { GradientSite, GramianWeighting } from '@mtljs/core';
import { API_VERSION } from '@mtljs/core';

/**
 * A minimal Gramian weighting for conformance runs: w_t = min(1, 1 / √G_tt), i.e. every task's
 * gradient clipped to unit norm before summing (never amplified, so training stays stable). It reads G, so a model whose site gradients are
 * wrong or missing shows up as non-finite or non-decreasing losses; it is not a method to train with.
 */
export function clipNormWeighting(sites: readonly GradientSite[]): GramianWeighting<null> {
  return {
    kind: 'weighting',
    name: 'testkit-clip-norm',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites,
    init: () => null,
    weigh(gramian) {
      const g = gramian.arraySync();
      return { weights: g.map((row, t) => Math.min(1, 1 / Math.sqrt(Math.max(row[t]!, 0)))), state: null };
    },
  };
}
