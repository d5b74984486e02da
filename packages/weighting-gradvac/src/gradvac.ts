import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, Rng, checkOptions, type GramianWeighting, type RngState, type StepInfo, type WeightingContext, type WeightsResult } from '@mtljs/core';

/** Options of `gradvac`; bad values are BAD_CONFIG naming the option. */
export interface GradVacOptions {
  /** Decay β ∈ [0, 1] of the targets' moving average φ̂ ← (1 − β) φ̂ + β φ (default 0.01). */
  beta?: number;
  /**
   * 'sum' (default): the update is Σ_i g_i^vac, as in the paper and LibMTL. 'mean': (1/T) Σ_i g_i^vac,
   * T the number of active tasks.
   */
  reduction?: 'sum' | 'mean';
}

/** The RNG that draws the visiting orders, and the similarity targets of every ordered task pair. */
export interface GradVacState {
  /** The seeded RNG's state (seeded from the trainer's seed by `init`). */
  rng: RngState;
  /**
   * targets[a][b] = φ̂_ab, the moving-average cosine target of task a's gradient with task b's,
   * indexed by the tasks' positions in `taskNames` (all tasks, active or not); starts at 0, the
   * diagonal is unused.
   */
  targets: number[][];
}

/** What `gradvacStep` returns: one step's weights and the updated targets. */
export interface GradVacStepResult {
  /** Σ_i C_ik: the update Σ_i g_i^vac = Σ_k w_k g_k (before any 'mean'). */
  weights: number[];
  /** The targets after this step's moving-average update (rows and columns: the tasks of G). */
  targets: number[][];
  /** How many (i, j) visits changed g_i^vac. */
  adjustments: number;
}

/** A gradient whose squared norm is at most this fraction of the largest has no direction to use. */
const RELATIVE_NORM_FLOOR = 1e-12;

/** √(1 − φ̂²) is held at least this large, so a target of ±1 cannot divide by zero. */
const MINIMUM_TARGET_SINE = 1e-6;

/**
 * One GradVac step on the Gramian G = J Jᵀ (Wang, Tsvetkov, Firat, Cao, ICLR 2021, Section 3.2 and
 * Eq. 3). Each g_i^vac is kept as coefficients over the original gradients, g_i^vac = Σ_k C_ik g_k,
 * so ⟨g_i^vac, g_j⟩ = Σ_k C_ik G_kj and ‖g_i^vac‖² = C_iᵀ G C_i. For each i, visiting the other tasks
 * j in `orders[i]`, with φ = cos(g_i^vac, g_j) and the target φ̂ = targets[i][j]:
 *   if φ < φ̂:  g_i^vac += ‖g_i^vac‖ (φ̂ √(1 − φ²) − φ √(1 − φ̂²)) / (‖g_j‖ √(1 − φ̂²)) · g_j
 * (which makes cos(g_i^vac, g_j) = φ̂), then φ̂ ← (1 − β) φ̂ + β φ. With φ̂ = 0 the step is PCGrad's
 * projection. The weights are w_k = Σ_i C_ik.
 */
export function gradvacStep(
  gramian: readonly (readonly number[])[],
  targets: readonly (readonly number[])[],
  orders: readonly (readonly number[])[],
  beta: number,
): GradVacStepResult {
  const count = gramian.length;
  const largest = gramian.reduce((max, row, j) => Math.max(max, row[j]!), 0);
  const floor = RELATIVE_NORM_FLOOR * largest;
  const nextTargets = targets.map((row) => [...row]);
  const weights = new Array<number>(count).fill(0);
  let adjustments = 0;
  // ĝ_i = Σ_k coefficients_k g_k changes one coefficient at a time, so u = Gᵀ·coefficients (u_j =
  // g_jᵀĝ_i) is updated by one row of G per adjustment, and ‖ĝ_i‖² = coefficientsᵀu: O(T) per
  // pair instead of the O(T²) of forming coefficientsᵀG·coefficients afresh (O(T⁴) a step).
  const coefficients = new Float64Array(count);
  const u = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    coefficients.fill(0);
    coefficients[i] = 1;
    for (let l = 0; l < count; l++) u[l] = gramian[i]![l]!;
    for (const j of orders[i]!) {
      const squaredNormJ = gramian[j]![j]!;
      let squaredNormI = 0;
      for (let k = 0; k < count; k++) squaredNormI += coefficients[k]! * u[k]!;
      const inner = u[j]!;
      // No direction to compare: leave g_i^vac and the target as they are.
      if (!(squaredNormJ > floor) || !(squaredNormI > floor)) continue;
      const normI = Math.sqrt(squaredNormI);
      const normJ = Math.sqrt(squaredNormJ);
      const phi = Math.min(1, Math.max(-1, inner / (normI * normJ)));
      const target = targets[i]![j]!;
      if (phi < target) {
        const targetSine = Math.max(Math.sqrt(Math.max(0, 1 - target * target)), MINIMUM_TARGET_SINE);
        const coefficient = (normI * (target * Math.sqrt(1 - phi * phi) - phi * targetSine)) / (normJ * targetSine);
        coefficients[j]! += coefficient;
        const row = gramian[j]!;
        for (let l = 0; l < count; l++) u[l]! += coefficient * row[l]!;
        adjustments += 1;
      }
      nextTargets[i]![j] = (1 - beta) * target + beta * phi;
    }
    for (let k = 0; k < count; k++) weights[k]! += coefficients[k]!;
  }
  return { weights, targets: nextTargets, adjustments };
}

function badOption(option: string, message: string): MtlError {
  return new MtlError('BAD_CONFIG', `weighting 'gradvac': option '${option}' ${message}`, { plugin: 'gradvac', option });
}

/**
 * GradVac (Wang et al., "Gradient Vaccine: Investigating and Improving Multi-task Optimization in
 * Massively Multilingual Models", ICLR 2021) as a Gramian weighting: like PCGrad, each task's
 * gradient is corrected against every other task's in a random order, but toward a target cosine
 * similarity φ̂_ij (a moving average of the observed ones, kept in the state) instead of toward
 * orthogonality. Sites 'shared' (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { gradvac } from '@mtljs/weighting-gradvac';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: gradvac() });
 * ```
 */
export function gradvac(options: GradVacOptions = {}): GramianWeighting<GradVacState> {
  checkOptions("weighting 'gradvac'", options, ['beta', 'reduction']);
  const beta = options.beta ?? 0.01;
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta < 0 || beta > 1) {
    throw badOption('beta', `must be a number in [0, 1], got ${JSON.stringify(options.beta)}`);
  }
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') throw badOption('reduction', `must be 'sum' or 'mean', got ${JSON.stringify(reduction)}`);
  return {
    kind: 'weighting',
    name: 'gradvac',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => gradvac(next as GradVacOptions),
    init: (context: WeightingContext): GradVacState => {
      const count = context.taskNames.length;
      return {
        rng: Rng.fromSeed(context.seed).state(),
        targets: Array.from({ length: count }, () => new Array<number>(count).fill(0)),
      };
    },
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: GradVacState, info: StepInfo): WeightsResult<GradVacState> {
      const all = info.taskNames.length;
      if (!Array.isArray(state.targets) || state.targets.length !== all || state.targets.some((row) => !Array.isArray(row) || row.length !== all)) {
        throw new MtlError('BAD_CHECKPOINT', `weighting 'gradvac': its state must hold a ${all}×${all} array of targets, one per ordered pair of the model's tasks`, {
          plugin: 'gradvac',
        });
      }
      const matrix = gramian.arraySync();
      const count = matrix.length;
      const active = info.activeIndices;
      const rng = Rng.fromState(state.rng);
      // Section 3.2 follows PCGrad's Algorithm 1: the other tasks are visited in random order, drawn afresh for each i.
      const orders = Array.from({ length: count }, (_, i) => rng.shuffle(Array.from({ length: count }, (_, j) => j).filter((j) => j !== i)));
      const subTargets = active.map((a) => active.map((b) => state.targets[a]![b]!));
      const result = gradvacStep(matrix, subTargets, orders, beta);
      const targets = state.targets.map((row) => [...row]);
      active.forEach((a, i) => active.forEach((b, j) => (targets[a]![b] = result.targets[i]![j]!)));
      const weights = reduction === 'mean' ? result.weights.map((w) => w / count) : result.weights;
      return { weights, state: { rng: rng.state(), targets }, diagnostics: { values: { adjustments: result.adjustments } } };
    },
  };
}
