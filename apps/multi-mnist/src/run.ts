import { Trainer, type EvaluationReport, type SharingStrategy } from '@mtljs/core';
import { multiFashion, multiLeNetSpec, multiMnist, type MultiDigitDataset, type MultiDigitOptions } from '@mtljs/datasets';

export interface RunOptions extends MultiDigitOptions {
  dataset: 'multi-mnist' | 'multi-fashion';
  strategy: SharingStrategy;
  epochs: number;
  learningRate?: number;
  /** Called after each epoch with the test evaluation. */
  onEpoch?: (epoch: number, report: EvaluationReport, seconds: number) => void;
}

export interface RunResult {
  dataset: MultiDigitDataset;
  /** Test accuracy per task after the last epoch. */
  accuracy: Record<string, number>;
  test: EvaluationReport;
}

/** Trains the multi-LeNet of Sener & Koltun 2018 with equal weighting and evaluates on the test split. */
export async function runMultiDigit(options: RunOptions): Promise<RunResult> {
  const dataset = options.dataset === 'multi-mnist' ? await multiMnist(options) : await multiFashion(options);
  const model = options.strategy.build(multiLeNetSpec(dataset.tasks), { seed: options.seed ?? 0 });
  const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: options.learningRate ?? 1e-3 }, seed: options.seed ?? 0 });
  let test: EvaluationReport | undefined;
  try {
    let started = performance.now();
    await trainer.fit(dataset.train, {
      epochs: options.epochs,
      validation: dataset.test,
      callbacks: {
        onEpochEnd: (report) => {
          test = report.validation;
          options.onEpoch?.(report.epoch, report.validation!, (performance.now() - started) / 1000);
          started = performance.now();
        },
      },
    });
  } finally {
    trainer.dispose();
    model.dispose();
  }
  const accuracy = Object.fromEntries(Object.entries(test!.tasks).map(([task, r]) => [task, r.metrics.accuracy!]));
  return { dataset, accuracy, test: test! };
}
