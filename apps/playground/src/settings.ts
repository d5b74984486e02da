import { MtlError, type GradientSite } from '@mtljs/core';

export type OptimizerName = 'adam' | 'sgd' | 'momentum' | 'rmsprop' | 'adagrad';
export const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'sgd', 'momentum', 'rmsprop', 'adagrad'];
export const SITES: readonly GradientSite[] = ['shared', 'last-shared', 'features'];

/** The synthetic tasks of Ma et al. 2018 (MMoE), as `syntheticTasks` from @mtljs/datasets makes them. */
export interface DatasetSettings {
  /** Number of tasks T. */
  tasks: number;
  /** Cosine p of the tasks' weight vectors, in [0, 1]. */
  correlation: number;
  /** 'regression' (standardised targets) or 'binary' (target above its training median). */
  kind: 'regression' | 'binary';
  inputDim: number;
  trainSize: number;
  validationSize: number;
  batchSize: number;
  /** Seed of the data (weight vectors, inputs, noise). */
  seed: number;
}

export interface PlaygroundSettings {
  dataset: DatasetSettings;
  /** Registered sharing strategy. */
  sharing: string;
  /** Widths of the encoder's hidden layers (each tower's or expert's, for strategies that copy it). */
  encoderUnits: number[];
  /** Widths of each head's hidden layers. */
  headUnits: number[];
  /** Registered weighting and the options given to its `configure`. */
  weighting: string;
  weightingOptions: Record<string, unknown>;
  /** Gradient site; null for loss-level weightings (and for the weighting's default). */
  site: GradientSite | null;
  /** Registered backend. */
  backend: string;
  optimizer: OptimizerName;
  learningRate: number;
  /** Seed of the model's initial values and of the trainer (shuffling, the weighting's RNG). */
  seed: number;
  /** Training stops by itself after this many epochs. */
  epochs: number;
  /** For weightings that compute no Gramian: probe the task-gradient Gramian every N steps (0: never). */
  probeEvery: number;
}

export const DEFAULT_SETTINGS: PlaygroundSettings = {
  dataset: { tasks: 2, correlation: 0.5, kind: 'regression', inputDim: 32, trainSize: 2048, validationSize: 512, batchSize: 64, seed: 1 },
  sharing: 'hard',
  encoderUnits: [32, 16],
  headUnits: [8],
  weighting: 'ew',
  weightingOptions: {},
  site: null,
  backend: 'wasm',
  optimizer: 'adam',
  learningRate: 0.003,
  seed: 1,
  epochs: 50,
  probeEvery: 10,
};

/** The raw values of the form's controls, by field name (what `FormData` or a test gives). */
export type RawSettings = Partial<Record<SettingField, string>>;

export type SettingField =
  | 'tasks'
  | 'correlation'
  | 'kind'
  | 'inputDim'
  | 'trainSize'
  | 'validationSize'
  | 'batchSize'
  | 'dataSeed'
  | 'sharing'
  | 'encoderUnits'
  | 'headUnits'
  | 'weighting'
  | 'weightingOptions'
  | 'site'
  | 'backend'
  | 'optimizer'
  | 'learningRate'
  | 'seed'
  | 'epochs'
  | 'probeEvery';

class Problems {
  readonly list: { field: SettingField; message: string }[] = [];

  add(field: SettingField, message: string): void {
    this.list.push({ field, message });
  }
}

function numberField(
  raw: RawSettings,
  field: SettingField,
  fallback: number,
  problems: Problems,
  rule: { integer?: boolean; min: number; max: number; exclusiveMin?: boolean },
): number {
  const text = raw[field]?.trim();
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  const kind = rule.integer ? 'an integer' : 'a number';
  const low = rule.exclusiveMin ? `> ${rule.min}` : `≥ ${rule.min}`;
  if (!Number.isFinite(value) || (rule.integer && !Number.isInteger(value)) || (rule.exclusiveMin ? value <= rule.min : value < rule.min) || value > rule.max) {
    problems.add(field, `'${field}' must be ${kind} ${low} and ≤ ${rule.max}, got '${text}'`);
    return fallback;
  }
  return value;
}

function unitsField(raw: RawSettings, field: SettingField, fallback: number[], problems: Problems, allowEmpty: boolean): number[] {
  const text = raw[field]?.trim();
  if (text === undefined) return fallback;
  if (text === '') {
    if (!allowEmpty) problems.add(field, `'${field}' needs at least one layer width, e.g. '32, 16'`);
    return allowEmpty ? [] : fallback;
  }
  const parts = text.split(/[\s,]+/).filter((part) => part !== '');
  const units = parts.map(Number);
  const bad = parts.find((part, i) => !Number.isInteger(units[i]) || units[i]! < 1 || units[i]! > 1024);
  if (bad !== undefined) {
    problems.add(field, `'${field}' must list layer widths (integers from 1 to 1024) separated by commas, got '${bad}' in '${text}'`);
    return fallback;
  }
  return units;
}

function nameField(raw: RawSettings, field: SettingField, fallback: string, problems: Problems): string {
  const text = raw[field]?.trim();
  if (text === undefined) return fallback;
  if (text === '') problems.add(field, `'${field}' must name a registered plugin`);
  return text === '' ? fallback : text;
}

function optionsField(raw: RawSettings, problems: Problems): Record<string, unknown> {
  const text = raw.weightingOptions?.trim();
  if (text === undefined || text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    problems.add('weightingOptions', `'weightingOptions' must be a JSON object such as {"reduction": "mean"}: ${(error as Error).message}`);
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.add('weightingOptions', `'weightingOptions' must be a JSON object such as {"reduction": "mean"}, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
    return {};
  }
  return parsed as Record<string, unknown>;
}

/**
 * Settings from the form's raw values; a field left out keeps its default. Every field that is
 * wrong is named in one MtlError BAD_CONFIG (`details.fields` lists them), so the page can mark
 * them all at once.
 */
export function parseSettings(raw: RawSettings, defaults: PlaygroundSettings = DEFAULT_SETTINGS): PlaygroundSettings {
  const problems = new Problems();
  const tasks = numberField(raw, 'tasks', defaults.dataset.tasks, problems, { integer: true, min: 1, max: 8 });
  const inputDim = numberField(raw, 'inputDim', defaults.dataset.inputDim, problems, { integer: true, min: 2, max: 1024 });
  if (inputDim < tasks + 1) problems.add('inputDim', `'inputDim' must be at least tasks + 1 = ${tasks + 1} (the synthetic weight vectors are built from tasks + 1 orthonormal directions), got ${inputDim}`);
  const kind = raw.kind?.trim() ?? defaults.dataset.kind;
  if (kind !== 'regression' && kind !== 'binary') problems.add('kind', `'kind' must be 'regression' or 'binary', got '${kind}'`);
  const dataset: DatasetSettings = {
    tasks,
    correlation: numberField(raw, 'correlation', defaults.dataset.correlation, problems, { min: 0, max: 1 }),
    kind: kind === 'binary' ? 'binary' : 'regression',
    inputDim,
    trainSize: numberField(raw, 'trainSize', defaults.dataset.trainSize, problems, { integer: true, min: 8, max: 100_000 }),
    validationSize: numberField(raw, 'validationSize', defaults.dataset.validationSize, problems, { integer: true, min: 8, max: 100_000 }),
    batchSize: numberField(raw, 'batchSize', defaults.dataset.batchSize, problems, { integer: true, min: 1, max: 4096 }),
    seed: numberField(raw, 'dataSeed', defaults.dataset.seed, problems, { integer: true, min: 0, max: 2 ** 31 - 1 }),
  };
  const site = raw.site?.trim() ?? (defaults.site ?? '');
  if (site !== '' && !SITES.includes(site as GradientSite)) problems.add('site', `'site' must be one of ${SITES.join(', ')} (or empty for the weighting's default), got '${site}'`);
  const optimizer = raw.optimizer?.trim() ?? defaults.optimizer;
  if (!OPTIMIZERS.includes(optimizer as OptimizerName)) problems.add('optimizer', `'optimizer' must be one of ${OPTIMIZERS.join(', ')}, got '${optimizer}'`);
  const settings: PlaygroundSettings = {
    dataset,
    sharing: nameField(raw, 'sharing', defaults.sharing, problems),
    encoderUnits: unitsField(raw, 'encoderUnits', defaults.encoderUnits, problems, false),
    headUnits: unitsField(raw, 'headUnits', defaults.headUnits, problems, true),
    weighting: nameField(raw, 'weighting', defaults.weighting, problems),
    weightingOptions: optionsField(raw, problems),
    site: site === '' || !SITES.includes(site as GradientSite) ? null : (site as GradientSite),
    backend: nameField(raw, 'backend', defaults.backend, problems),
    optimizer: OPTIMIZERS.includes(optimizer as OptimizerName) ? (optimizer as OptimizerName) : defaults.optimizer,
    learningRate: numberField(raw, 'learningRate', defaults.learningRate, problems, { min: 0, max: 10, exclusiveMin: true }),
    seed: numberField(raw, 'seed', defaults.seed, problems, { integer: true, min: 0, max: 2 ** 31 - 1 }),
    epochs: numberField(raw, 'epochs', defaults.epochs, problems, { integer: true, min: 1, max: 10_000 }),
    probeEvery: numberField(raw, 'probeEvery', defaults.probeEvery, problems, { integer: true, min: 0, max: 100_000 }),
  };
  if (problems.list.length > 0) {
    throw new MtlError('BAD_CONFIG', `playground settings: ${problems.list.map((p) => p.message).join('; ')}`, {
      fields: problems.list.map((p) => p.field),
    });
  }
  return settings;
}
