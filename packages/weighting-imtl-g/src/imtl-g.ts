import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  MtlError,
  checkOptions,
  symmetricEigen,
  type GramianWeighting,
  type SolverReport,
  type StepInfo,
  type WeightsResult,
} from '@mtljs/core';

/** Options of `imtlG` (which rejects bad values with BAD_CONFIG naming the option) and of `imtlGWeights`. */
export interface IMTLGOptions {
  /**
   * 'sum-one' (default): the weights sum to 1, as in the paper (α_1 = 1 − Σ_{t≥2} α_t).
   * 'sum-tasks': the same weights times T (the number of active tasks), so they sum to T, the
   * scale of equal weighting's sum Σ_t g_t.
   */
  scale?: 'sum-one' | 'sum-tasks';
}

/** What `imtlGWeights` returns: the weights and facts about the solve. */
export interface IMTLGSolution {
  /** One weight per row of G; zero rows get 0. */
  weights: number[];
  /**
   * The common projection gᵀu_t of the update g = Σ_t weights_t g_t on the unit gradients
   * u_t = g_t/‖g_t‖ (before the 'sum-tasks' scaling); negative when the sum-one normalisation
   * flips the update (see the README), 0 when no update with non-zero equal projections exists.
   */
  projection: number;
  /** Numerical rank of the unit gradients' Gram matrix (the rank of J without its zero rows). */
  rank: number;
  /**
   * residual: max_t |gᵀu_t − mean_s gᵀu_s| / Σ_t |α_t|‖g_t‖ for the update g = Σ_t α_t g_t with
   * Σ_t α_t = 1 (0 for equal projections; larger where only a least-squares answer exists; 1 when
   * the weights cannot sum to 1); iterations: QR steps of the eigen-decomposition.
   */
  report: SolverReport;
}

/** Eigenvalues of the unit gradients' Gram matrix below this fraction of the largest count as 0. */
const RANK_TOLERANCE = 1e-6;

/** Equal projections up to this relative residual count as solved. */
const RESIDUAL_TOLERANCE = 1e-6;

/** A task whose ‖g_t‖² is at most this fraction of the largest is a zero gradient. */
const ZERO_NORM = 1e-30;

const NAME = 'imtl-g';
const SUBJECT = "weighting 'imtl-g'";

function product(matrix: readonly (readonly number[])[], v: readonly number[]): number[] {
  return matrix.map((row) => row.reduce((sum, value, j) => sum + value * v[j]!, 0));
}

/**
 * IMTL-G's weights from a Gramian (plain numbers): the update is Σ_t weights_t g_t. Pure.
 *
 * The paper (Liu et al. 2021, "Towards Impartial Multi-task Learning", ICLR, eq. 6–7) asks for
 * g = Σ_t α_t g_t with Σ_t α_t = 1 and equal projections gᵀu_t on the unit gradients
 * u_t = g_t/‖g_t‖, and solves it in closed form: with D = [g_1 − g_2, …, g_1 − g_T]ᵀ and
 * U = [u_1 − u_2, …, u_1 − u_T]ᵀ, α_{2:T} = g_1ᵀUᵀ(DUᵀ)⁻¹ and α_1 = 1 − Σ_{t≥2} α_t.
 * From G alone, in the basis of the unit gradients: write g = Σ_t β_t u_t, i.e. α_t = β_t/‖g_t‖.
 * Then gᵀu_s = (Cβ)_s with C_st = u_sᵀu_t = G_st/(‖g_s‖‖g_t‖), so equal projections read Cβ = p·1
 * for a common projection p: β ∝ C⁻¹1, and α_t ∝ (C⁻¹1)_t / ‖g_t‖, normalised to Σ_t α_t = 1.
 * This is the closed form above wherever DUᵀ is invertible (both state the same T − 1 equations
 * on the same affine set), and it equals torchjd's G⁻¹d normalised (d_t = ‖g_t‖), since
 * G = N⁻¹CN⁻¹ with N = diag(1/‖g_t‖).
 *
 * C has unit diagonal whatever the gradients' scales, which keeps it well conditioned when the
 * norms differ by orders of magnitude. Where C is singular (linearly dependent gradients), C⁻¹ is
 * its pseudo-inverse (eigenvalues below RANK_TOLERANCE·λ_max dropped, via symmetricEigen): the
 * least-squares answer, whose projections are as close to equal as the span allows. Where the
 * least-squares projections are all 0 (1 ⊥ range C: e.g. two opposite gradients), the only update
 * with equal projections is 0, and the weights are the combination of C's null space with
 * Σ_t α_t = 1 of least norm in β. Zero gradients have no direction: they get weight 0 and the
 * others are solved without them.
 */
export function imtlGWeights(gramian: readonly (readonly number[])[], options: IMTLGOptions = {}): IMTLGSolution {
  const count = gramian.length;
  const factor = (options.scale ?? 'sum-one') === 'sum-tasks' ? count : 1;
  const largest = gramian.reduce((max, row, i) => Math.max(max, row[i]!), 0);
  const nonzero = gramian.flatMap((row, i) => (row[i]! > ZERO_NORM * largest && row[i]! > 0 ? [i] : []));
  if (nonzero.length === 0) {
    // A zero Jacobian: any weights give the zero update; equal ones keep Σ α = 1.
    return { weights: new Array<number>(count).fill(factor / count), projection: 0, rank: 0, report: { residual: 0, iterations: 0, converged: true } };
  }
  const norms = nonzero.map((i) => Math.sqrt(gramian[i]![i]!));
  const cosines = nonzero.map((i, a) => nonzero.map((j, b) => (a === b ? 1 : gramian[i]![j]! / (norms[a]! * norms[b]!))));
  const eigen = symmetricEigen(cosines);
  const size = nonzero.length;
  const cutoff = RANK_TOLERANCE * Math.max(eigen.values[0]!, 0);
  const kept = eigen.values.flatMap((value, k) => (value > cutoff ? [k] : []));
  const dropped = eigen.values.flatMap((value, k) => (value > cutoff ? [] : [k]));
  const column = (k: number) => eigen.vectors.map((row) => row[k]!);
  // β = C⁺1 = Σ_k v_k (v_kᵀ1)/λ_k over the kept eigenpairs.
  let beta = new Array<number>(size).fill(0);
  for (const k of kept) {
    const v = column(k);
    const coefficient = v.reduce((s, x) => s + x, 0) / eigen.values[k]!;
    beta = beta.map((b, a) => b + coefficient * v[a]!);
  }
  let projections = product(cosines, beta);
  let common = projections.reduce((s, p) => s + p, 0) / size;
  let alpha = beta.map((b, a) => b / norms[a]!);
  let total = alpha.reduce((s, x) => s + x, 0);
  if (!(common > 1e-9) || !(Math.abs(total) > 1e-12 * alpha.reduce((s, x) => s + Math.abs(x), 0))) {
    // No update has non-zero equal projections (or none can be scaled to Σα = 1): the update is 0,
    // with β = z in C's null space (Σ_t z_t u_t = 0) and Σ_t z_t/‖g_t‖ = 1, z of least norm:
    // z = Z Zᵀs / ‖Zᵀs‖², s_t = 1/‖g_t‖, Z the dropped eigenvectors.
    const inverseNorms = norms.map((n) => 1 / n);
    let z = new Array<number>(size).fill(0);
    let squared = 0;
    for (const k of dropped) {
      const v = column(k);
      const coefficient = v.reduce((s, x, a) => s + x * inverseNorms[a]!, 0);
      squared += coefficient * coefficient;
      z = z.map((value, a) => value + coefficient * v[a]!);
    }
    if (squared > 0) {
      beta = z.map((value) => value / squared);
      alpha = beta.map((b, a) => b / norms[a]!);
      total = alpha.reduce((s, x) => s + x, 0);
      projections = product(cosines, beta);
      common = 0;
    }
  }
  // Σ_t α_t = 0 to working precision: no multiple of the update has weights summing to 1. Fall
  // back to Σ_t |α_t| = 1 (the update with positive equal projections) and report it as unsolved.
  const magnitude = alpha.reduce((s, x) => s + Math.abs(x), 0);
  const summable = Math.abs(total) > 1e-12 * magnitude;
  const divisor = summable ? total : magnitude;
  const weights = new Array<number>(count).fill(0);
  nonzero.forEach((i, a) => (weights[i] = (factor * alpha[a]!) / divisor));
  // Projections p_t = gᵀu_t of the normalised update g = Σ_t α_t g_t / Σ_t α_t, and their spread
  // relative to Σ_t |α_t|‖g_t‖ (the size of the terms of g; ≥ ‖g‖ ≥ |mean p|).
  const scaledProjections = projections.map((p) => p / divisor);
  const meanProjection = scaledProjections.reduce((s, p) => s + p, 0) / size;
  const spread = Math.max(...scaledProjections.map((p) => Math.abs(p - meanProjection)));
  const mass = beta.reduce((s, b) => s + Math.abs(b), 0) / Math.abs(divisor);
  const residual = !summable ? 1 : mass > 0 ? spread / mass : 0;
  return {
    weights,
    projection: common === 0 ? 0 : meanProjection,
    rank: kept.length,
    report: { residual, iterations: eigen.report.iterations, converged: residual <= RESIDUAL_TOLERANCE },
  };
}

/**
 * IMTL-G, the gradient half of Impartial Multi-task Learning (Liu, Li, Kuang, Xue, Chen, Yang,
 * Liao & Zhang, ICLR 2021), as a Gramian weighting: weights α with Σ_t α_t = 1 (or T with
 * `scale: 'sum-tasks'`) such that the update g = Σ_t α_t g_t has the same projection on every
 * unit task gradient g_t/‖g_t‖. Stateless. Sites 'shared' (default) and 'features'.
 *
 * @example
 * ```ts
 * import { Trainer } from '@mtljs/core';
 * import { imtlG } from '@mtljs/weighting-imtl-g';
 *
 * // `model` is any MultiTaskModel, e.g. one built by `hardSharing().build(spec)`.
 * const trainer = new Trainer({ model, weighting: imtlG() });
 * ```
 */
export function imtlG(options: IMTLGOptions = {}): GramianWeighting<null> {
  checkOptions(SUBJECT, options, ['scale']);
  const scale = options.scale ?? 'sum-one';
  if (scale !== 'sum-one' && scale !== 'sum-tasks') {
    throw new MtlError('BAD_CONFIG', `${SUBJECT}: option 'scale' must be 'sum-one' or 'sum-tasks', got ${JSON.stringify(scale)}`, {
      plugin: NAME,
      option: 'scale',
    });
  }
  return {
    kind: 'weighting',
    name: NAME,
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared', 'features'],
    configure: (next) => imtlG(next as IMTLGOptions),
    init: () => null,
    weigh(gramian: Tensor2D, _losses: Tensor1D, state: null, _info: StepInfo): WeightsResult<null> {
      const solution = imtlGWeights(gramian.arraySync(), { scale });
      const warnings: string[] = [];
      if (solution.projection < 0) {
        warnings.push(
          `weighting '${NAME}': with weights summing to 1 the update has a negative projection (${solution.projection.toExponential(2)}) on every task gradient, so a step along it raises every task's loss to first order`,
        );
      }
      return {
        weights: solution.weights,
        state,
        diagnostics: {
          solver: { ...solution.report },
          values: { projection: solution.projection, rank: solution.rank },
          ...(warnings.length ? { warnings } : {}),
        },
      };
    },
  };
}
