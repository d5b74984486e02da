import { MtlError, Rng, fromArrays, type DataSource, type Batch, type TaskSpec } from '@mtljs/core';

/** Options of `syntheticTasks`; out-of-range values are BAD_CONFIG. */
export interface SyntheticOptions {
  /** Number of tasks T (default 2). */
  tasks?: number;
  /** Pearson correlation p of the tasks' linear parts, in [0, 1] (default 0.5). */
  correlation?: number;
  /** Input dimension d (default 100; must be ≥ T + 1). */
  inputDim?: number;
  /** Examples in the training split (default 8000). */
  trainSize?: number;
  /** Examples in the validation split (default 2000). */
  validationSize?: number;
  /** Scale c of the weight vectors (default 1). */
  scale?: number;
  /** Number m of sinusoidal terms (default 10). */
  sinusoids?: number;
  /** Std of the label noise ε (default 0.1, i.e. variance 0.01 as in the paper). */
  noise?: number;
  /** 'regression' (default) or 'binary' (label = target above the task's training median). */
  kind?: 'regression' | 'binary';
  /** Standardise regression targets to zero mean, unit variance on the training split (default true). */
  standardize?: boolean;
  /** Seed of every draw (weight vectors, α_i, β_i, inputs, noise; default 0): the same seed gives the same data. */
  seed?: number;
  /** Examples a batch of the `train` and `validation` sources (default 128). */
  batchSize?: number;
}

/** What `syntheticTasks` returns: the task specs, both splits as data sources, and the generating parameters. */
export interface SyntheticDataset {
  /** One spec per task, named 'task1' … 'taskT', of the chosen `kind` with 1 unit. */
  tasks: TaskSpec[];
  /** Shape of one input: [d]. */
  inputShape: number[];
  /** The training split: inputs [batch, d], one target [batch] per task. */
  train: DataSource & {
    /** The same batches, synchronously. */
    batches(): Generator<Batch>;
  };
  /** The validation split, drawn from the same distribution; its targets are binarised or standardised with the training split's median or statistics. */
  validation: DataSource & {
    /** The same batches, synchronously. */
    batches(): Generator<Batch>;
  };
  /** The task weight vectors w_t (rows) and their pairwise cosine similarities. */
  weightVectors: number[][];
  /** T×T cosine similarities of the weight vectors: 1 on the diagonal, p elsewhere (up to rounding). */
  cosine: number[][];
  /** Raw arrays, for users who want to feed another adapter. */
  arrays: {
    /** The training split. */
    train: {
      /** Row-major inputs [trainSize × d]. */
      inputs: Float32Array;
      /** Each task's targets [trainSize], after binarisation or standardisation. */
      targets: Record<string, Float32Array>;
    };
    /** The validation split. */
    validation: {
      /** Row-major inputs [validationSize × d]. */
      inputs: Float32Array;
      /** Each task's targets [validationSize], after binarisation or standardisation. */
      targets: Record<string, Float32Array>;
    };
  };
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** T+1 orthonormal vectors in R^d by Gram–Schmidt on Gaussian draws. */
function orthonormal(rng: Rng, count: number, dim: number): number[][] {
  const basis: number[][] = [];
  while (basis.length < count) {
    const v = Array.from({ length: dim }, () => rng.normal());
    for (const u of basis) {
      const p = dot(v, u);
      for (let i = 0; i < dim; i++) v[i]! -= p * u[i]!;
    }
    const norm = Math.sqrt(dot(v, v));
    if (norm < 1e-8) continue;
    basis.push(v.map((x) => x / norm));
  }
  return basis;
}

/**
 * The synthetic multi-task data of Ma et al. 2018 (MMoE, section 3.2), generalised to T tasks:
 *   w_t = c (√p u_0 + √(1−p) u_t)  with u_0..u_T orthonormal, so cos(w_s, w_t) = p for s ≠ t;
 *   x ~ N(0, I_d);  y_t = w_tᵀx + Σ_{i=1..m} sin(α_i w_tᵀx + β_i) + ε_t,  ε_t ~ N(0, noise²).
 * For T = 2 this has the distribution of the paper's construction (w_1 = c u_1,
 * w_2 = c(p u_1 + √(1−p²) u_2)): both are pairs of norm-c vectors with cosine p, and x ~ N(0, I)
 * is rotation invariant. α_i, β_i ~ N(0, 1) are drawn once per dataset from the seed and shared
 * by the tasks, as in the paper.
 */
export function syntheticTasks(options: SyntheticOptions = {}): SyntheticDataset {
  const T = options.tasks ?? 2;
  const p = options.correlation ?? 0.5;
  const d = options.inputDim ?? 100;
  const trainSize = options.trainSize ?? 8000;
  const validationSize = options.validationSize ?? 2000;
  const c = options.scale ?? 1;
  const m = options.sinusoids ?? 10;
  const noise = options.noise ?? 0.1;
  const kind = options.kind ?? 'regression';
  const batchSize = options.batchSize ?? 128;
  const problems: string[] = [];
  if (!Number.isInteger(T) || T < 1) problems.push(`tasks must be a positive integer, got ${T}`);
  if (!(p >= 0 && p <= 1)) problems.push(`correlation must be in [0, 1], got ${p}`);
  if (!Number.isInteger(d) || d < T + 1) problems.push(`inputDim must be an integer ≥ tasks + 1 = ${T + 1}, got ${d}`);
  if (!Number.isInteger(trainSize) || trainSize < 1) problems.push(`trainSize must be a positive integer, got ${trainSize}`);
  if (!Number.isInteger(validationSize) || validationSize < 1) problems.push(`validationSize must be a positive integer, got ${validationSize}`);
  if (kind !== 'regression' && kind !== 'binary') problems.push(`kind must be 'regression' or 'binary', got '${String(kind)}'`);
  if (problems.length) throw new MtlError('BAD_CONFIG', `syntheticTasks: ${problems.join('; ')}`);

  const rng = Rng.fromSeed(options.seed ?? 0);
  const u = orthonormal(rng, T + 1, d);
  const weightVectors = Array.from({ length: T }, (_, t) => u[0]!.map((u0, i) => c * (Math.sqrt(p) * u0 + Math.sqrt(1 - p) * u[t + 1]![i]!)));
  const alpha = Array.from({ length: m }, () => rng.normal());
  const beta = Array.from({ length: m }, () => rng.normal());
  const names = Array.from({ length: T }, (_, t) => `task${t + 1}`);

  const generate = (n: number) => {
    const inputs = new Float32Array(n * d);
    const targets = names.map(() => new Float32Array(n));
    const x = new Array<number>(d);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < d; i++) x[i] = inputs[k * d + i] = rng.normal();
      for (let t = 0; t < T; t++) {
        const z = dot(weightVectors[t]!, x);
        let y = z;
        for (let i = 0; i < m; i++) y += Math.sin(alpha[i]! * z + beta[i]!);
        targets[t]![k] = y + noise * rng.normal();
      }
    }
    return { inputs, targets };
  };
  const train = generate(trainSize);
  const validation = generate(validationSize);

  for (let t = 0; t < T; t++) {
    const values = Array.from(train.targets[t]!);
    if (kind === 'binary') {
      const sorted = [...values].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      for (const split of [train, validation]) split.targets[t] = split.targets[t]!.map((y) => (y > median ? 1 : 0));
    } else if (options.standardize ?? true) {
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length) || 1;
      for (const split of [train, validation]) split.targets[t] = split.targets[t]!.map((y) => (y - mean) / std);
    }
  }

  const cosine = weightVectors.map((a) => weightVectors.map((b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b))));
  const toSource = (split: { inputs: Float32Array; targets: Float32Array[] }) =>
    fromArrays(
      { inputs: split.inputs, inputShape: [d], targets: Object.fromEntries(names.map((name, t) => [name, split.targets[t]!])) },
      { batchSize },
    );
  const asRecord = (split: { inputs: Float32Array; targets: Float32Array[] }) => ({
    inputs: split.inputs,
    targets: Object.fromEntries(names.map((name, t) => [name, split.targets[t]!])),
  });
  return {
    tasks: names.map((name) => ({ name, kind, units: 1 })),
    inputShape: [d],
    train: toSource(train),
    validation: toSource(validation),
    weightVectors,
    cosine,
    arrays: { train: asRecord(train), validation: asRecord(validation) },
  };
}
