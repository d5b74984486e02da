import { equalWeighting, Trainer, type DataSource, type GradientSite, type MlpSpec, type ModelSpec, type SharingStrategy, type TaskSpec, type Weighting } from '@mtljs/core';

/** A data set to compare on: the shape of what `syntheticTasks` from @mtljs/datasets returns. */
export interface BenchmarkData {
  /** The tasks the model is built for. */
  tasks: TaskSpec[];
  /** Shape of one example's input, without the batch dimension. */
  inputShape: readonly number[];
  /** Batches to train on. */
  train: DataSource;
  /** Batches whose final losses are compared. */
  validation: DataSource;
}

/** Options of `compareWithEqualWeighting`. */
export interface CompareOptions {
  /** Builds the model of both runs. */
  strategy: SharingStrategy;
  /** The weighting under test. */
  weighting: Weighting<any>;
  /** Gradient site of the weighting under test (default: its first). */
  site?: GradientSite;
  /** E.g. `syntheticTasks({ ... })` from @mtljs/datasets. */
  data: BenchmarkData;
  /** The shared encoder (default: an MLP of 64 and 32 units). */
  encoder?: MlpSpec;
  /** Hidden layers of each head (default: an MLP of 16 units). */
  head?: MlpSpec;
  /** Training epochs of each run (default 4). */
  epochs?: number;
  /** Seeds the model, the shuffling and the weighting; both runs use it (default 0). */
  seed?: number;
  /** Adam's learning rate for both runs (default 3e-3). */
  learningRate?: number;
}

/** The final validation losses of the two runs of `compareWithEqualWeighting`. */
export interface CompareReport {
  /** Mean over tasks of the final validation loss, for the weighting under test and for EW. */
  meanValidationLoss: number;
  /** Mean over tasks of the final validation loss of the equal-weighting run. */
  equalWeightingMeanValidationLoss: number;
  /** meanValidationLoss / equalWeightingMeanValidationLoss. */
  ratio: number;
  /** Final validation loss of each task, by task name. */
  perTask: Record<
    string,
    {
      /** With the weighting under test. */
      loss: number;
      /** With equal weighting. */
      equalWeightingLoss: number;
    }
  >;
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
 * "no worse than 1.1× EW" acceptance of weighting plugins. Both runs use Adam and the same seed;
 * the EW run uses its default site. Losses are the raw task losses of `trainer.evaluate`.
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
