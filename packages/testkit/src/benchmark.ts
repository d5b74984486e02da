import { equalWeighting, Trainer, type DataSource, type GradientSite, type MlpSpec, type ModelSpec, type SharingStrategy, type TaskSpec, type Weighting } from '@mtljs/core';

export interface BenchmarkData {
  tasks: TaskSpec[];
  inputShape: readonly number[];
  train: DataSource;
  validation: DataSource;
}

export interface CompareOptions {
  strategy: SharingStrategy;
  weighting: Weighting<any>;
  /** Gradient site of the weighting under test (default: its first). */
  site?: GradientSite;
  /** E.g. `syntheticTasks({ ... })` from @mtljs/datasets. */
  data: BenchmarkData;
  encoder?: MlpSpec;
  head?: MlpSpec;
  /** Default 4. */
  epochs?: number;
  /** Seeds the model, the shuffling and the weighting; both runs use it (default 0). */
  seed?: number;
  /** Adam's learning rate for both runs (default 3e-3). */
  learningRate?: number;
}

export interface CompareReport {
  /** Mean over tasks of the final validation loss, for the weighting under test and for EW. */
  meanValidationLoss: number;
  equalWeightingMeanValidationLoss: number;
  /** meanValidationLoss / equalWeightingMeanValidationLoss. */
  ratio: number;
  perTask: Record<string, { loss: number; equalWeightingLoss: number }>;
}

async function train(options: CompareOptions, weighting: Weighting<any>, site: GradientSite | undefined) {
  const spec: ModelSpec = {
    tasks: options.data.tasks,
    inputShape: options.data.inputShape,
    encoder: options.encoder ?? { type: 'mlp', units: [64, 32] },
    head: options.head ?? { type: 'mlp', units: [16] },
  };
  const seed = options.seed ?? 0;
  const model = options.strategy.build(spec, { seed });
  const trainer = new Trainer({ model, weighting, site, seed, optimizer: { name: 'adam', learningRate: options.learningRate ?? 3e-3 } });
  try {
    await trainer.fit(options.data.train, { epochs: options.epochs ?? 4 });
    return (await trainer.evaluate(options.data.validation)).tasks;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/**
 * Trains the same model twice from the same seed — with the weighting under test and with equal
 * weighting (sum) — and compares the final validation losses, averaged over tasks. Used for the
 * "no worse than 1.1× EW" acceptance of weighting plugins.
 */
export async function compareWithEqualWeighting(options: CompareOptions): Promise<CompareReport> {
  const tested = await train(options, options.weighting, options.site);
  const baseline = await train(options, equalWeighting(), undefined);
  const names = Object.keys(tested);
  const mean = (report: typeof tested) => names.reduce((sum, name) => sum + report[name]!.loss, 0) / names.length;
  const meanValidationLoss = mean(tested);
  const equalWeightingMeanValidationLoss = mean(baseline);
  return {
    meanValidationLoss,
    equalWeightingMeanValidationLoss,
    ratio: meanValidationLoss / equalWeightingMeanValidationLoss,
    perTask: Object.fromEntries(names.map((name) => [name, { loss: tested[name]!.loss, equalWeightingLoss: baseline[name]!.loss }])),
  };
}
