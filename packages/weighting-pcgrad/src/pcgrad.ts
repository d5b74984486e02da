import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, Rng, checkOptions, type GramianWeighting, type RngState, type StepInfo, type WeightsResult } from '@mtljs/core';

/** Options of `pcgrad`; a bad `reduction` is BAD_CONFIG. */
export interface PCGradOptions {
  /**
   * 'sum' (default): the update is Σ_i g_i^pc, as in the paper. 'mean': (1/T) Σ_i g_i^pc, T the
   * number of active tasks.
   */
  reduction?: 'sum' | 'mean';
}

/** The whole state: the RNG that draws each step's projection orders. */
export interface PCGradState {
  /** The seeded RNG's state (seeded from the trainer's seed by `init`). */
  rng: RngState;
}

/**
 * A task j whose squared norm is at most this fraction of the largest one is not projected on:
 * the projection divides by ‖g_j‖², and a (numerically) zero gradient has no direction to remove.
 */
const RELATIVE_NORM_FLOOR = 1e-12;

/**
 * PCGrad's weights from the Gramian G = J Jᵀ (Yu et al. 2020, "Gradient Surgery for Multi-Task
 * Learning", Algorithm 1). Each projected gradient is kept as coefficients over the original
 * gradients, g_i^pc = Σ_k C[i][k] g_k, so every inner product needed comes from G:
 *   ⟨g_i^pc, g_j⟩ = Σ_k C[i][k] G[k][j],  ‖g_j‖² = G[j][j].
 * For each i, in the order `orders[i]` (the other tasks), when ⟨g_i^pc, g_j⟩ < 0:
 *   g_i^pc ← g_i^pc − (⟨g_i^pc, g_j⟩ / ‖g_j‖²) g_j,  i.e.  C[i][j] −= ⟨g_i^pc, g_j⟩ / G[j][j].
 * The update Σ_i g_i^pc has weights w_k = Σ_i C[i][k].
 */
export function pcgradWeights(gramian: readonly (readonly number[])[], orders: readonly (readonly number[])[]): number[] {
  const count = gramian.length;
  const largestSquaredNorm = gramian.reduce((max, row, j) => Math.max(max, row[j]!), 0);
  const floor = RELATIVE_NORM_FLOOR * largestSquaredNorm;
  const weights = new Array<number>(count).fill(0);
  for (let i = 0; i < count; i++) {
    const coefficients = new Array<number>(count).fill(0);
    coefficients[i] = 1;
    for (const j of orders[i]!) {
      const squaredNorm = gramian[j]![j]!;
      if (!(squaredNorm > floor)) continue;
      let inner = 0;
      for (let k = 0; k < count; k++) inner += coefficients[k]! * gramian[k]![j]!;
      if (inner < 0) coefficients[j]! -= inner / squaredNorm;
    }
    for (let k = 0; k < count; k++) weights[k]! += coefficients[k]!;
  }
  return weights;
}

/**
 * PCGrad (Yu et al., NeurIPS 2020) as a Gramian weighting: every active task's gradient is
 * projected onto the normal plane of each other task's (original) gradient it conflicts with, in
 * an order drawn afresh for each task from the seeded RNG kept in the state; the shared update is
 * the sum (or mean) of the projected gradients. Sites 'shared' (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { pcgrad } from '@mtljs/weighting-pcgrad';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: pcgrad() });
 * ```
 */
export function pcgrad(options: PCGradOptions = {}): GramianWeighting<PCGradState> {
  checkOptions("weighting 'pcgrad'", options, ['reduction']);
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') {
    throw new MtlError('BAD_CONFIG', `weighting 'pcgrad': option 'reduction' must be 'sum' or 'mean', got ${JSON.stringify(reduction)}`, {
      plugin: 'pcgrad',
      option: 'reduction',
    });
  }
  return {
    kind: 'weighting',
    name: 'pcgrad',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => pcgrad(next as PCGradOptions),
    init: (context) => ({ rng: Rng.fromSeed(context.seed).state() }),
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: PCGradState, _info: StepInfo): WeightsResult<PCGradState> {
      const matrix = gramian.arraySync();
      const count = matrix.length;
      const rng = Rng.fromState(state.rng);
      // The paper's Algorithm 1 visits the other tasks j ≠ i "in random order", one order per task.
      const orders = Array.from({ length: count }, (_, i) => rng.shuffle(Array.from({ length: count }, (_, j) => j).filter((j) => j !== i)));
      const sums = pcgradWeights(matrix, orders);
      const weights = reduction === 'mean' ? sums.map((w) => w / count) : sums;
      return { weights, state: { rng: rng.state() } };
    },
  };
}
