import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, checkOptions, type GramianWeighting, type StepInfo, type WeightsResult } from '@mtljs/core';

export interface SignAgreementOptions {
  /**
   * Exponent p ≥ 0 on the agreement share (default 1). p = 0 gives every task weight 1 (plain
   * summed gradients); larger p penalises a task that conflicts with many others more sharply.
   */
  power?: number;
}

/**
 * Weights from the signs of the off-diagonal Gramian entries: task t agrees with task s when
 * ⟨g_t, g_s⟩ = G[t][s] ≥ 0 (an orthogonal pair, or one with a zero gradient, is not a conflict).
 *   w_t = ((1 + #{s ≠ t : G[t][s] ≥ 0}) / A)^p,  A the number of rows of G.
 * Only signs are read, so the weights do not change when G is multiplied by any c > 0.
 */
export function signAgreementWeights(gramian: readonly (readonly number[])[], power = 1): number[] {
  const count = gramian.length;
  return gramian.map((row, t) => {
    let agreeing = 1;
    for (let s = 0; s < count; s++) if (s !== t && row[s]! >= 0) agreeing++;
    return (agreeing / count) ** power;
  });
}

/**
 * A stateless Gramian weighting: each active task's gradient is scaled by the share of active
 * tasks (itself included) whose gradients it does not conflict with, and the engine applies
 * Σ_t w_t g_t. Sites 'shared' (default), 'last-shared' and 'features'.
 */
export function signAgreement(options: SignAgreementOptions = {}): GramianWeighting<null> {
  checkOptions("weighting 'sign-agreement'", options, ['power']);
  const power = options.power ?? 1;
  if (typeof power !== 'number' || !Number.isFinite(power) || power < 0) {
    throw new MtlError('BAD_CONFIG', `weighting 'sign-agreement': option 'power' must be a finite number ≥ 0, got ${JSON.stringify(power)}`, {
      plugin: 'sign-agreement',
      option: 'power',
    });
  }
  return {
    kind: 'weighting',
    name: 'sign-agreement',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'last-shared', 'features'],
    configure: (next) => signAgreement(next as SignAgreementOptions),
    init: () => null,
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: null, _info: StepInfo): WeightsResult<null> {
      return { weights: signAgreementWeights(gramian.arraySync(), power), state };
    },
  };
}
