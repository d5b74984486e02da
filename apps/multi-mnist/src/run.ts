import * as tf from '@tensorflow/tfjs-core';
import { Trainer, type EvaluationReport, type SharingStrategy } from '@mtljs/core';
import { multiFashion, multiLeNetSpec, multiMnist, type MultiDigitDataset, type MultiDigitOptions } from '@mtljs/datasets';

export interface RunOptions extends MultiDigitOptions {
  dataset: 'multi-mnist' | 'multi-fashion';
  strategy: SharingStrategy;
  epochs: number;
  learningRate?: number;
  /** Multiply the learning rate by `factor` after each epoch listed in `at` (1-based; default none). */
  decay?: { at: number[]; factor: number };
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
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);
  const trainer = new Trainer({ model, optimizer, seed: options.seed ?? 0 });
  let test: EvaluationReport | undefined;
  try {
    let started = performance.now();
    await trainer.fit(dataset.train, {
      epochs: options.epochs,
      validation: dataset.test,
      callbacks: {
        onEpochEnd: (report) => {
          test = report.validation;
          // Step decay: tfjs's Adam reads its learning rate at every update.
          if (options.decay?.at.includes(report.epoch + 1)) {
            const adam = optimizer as unknown as { learningRate: number };
            adam.learningRate *= options.decay.factor;
          }
          options.onEpoch?.(report.epoch, report.validation!, (performance.now() - started) / 1000);
          started = performance.now();
        },
      },
    });
  } finally {
    trainer.dispose(); // disposes the optimizer too
    model.dispose();
  }
  const accuracy = Object.fromEntries(Object.entries(test!.tasks).map(([task, r]) => [task, r.metrics.accuracy!]));
  return { dataset, accuracy, test: test! };
}
