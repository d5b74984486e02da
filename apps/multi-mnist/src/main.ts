import { writeFileSync } from 'node:fs';
import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { hardSharing } from '@mtljs/sharing-hard';
import { runMultiDigit } from './run';

// The MultiMNIST / MultiFashion benchmark: a multi-LeNet with hard sharing and equal weighting,
// test accuracy of both tasks after every epoch. `node dist/main.js --dataset=multi-fashion --epochs=10 --batch=128 --lr=0.002 --decay-at=4,7 --decay=0.25`.

function option(name: string, fallback: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}

async function main(): Promise<void> {
  const dataset = option('dataset', 'multi-mnist') as 'multi-mnist' | 'multi-fashion';
  const epochs = Number(option('epochs', '10'));
  const seed = Number(option('seed', '0'));
  const batchSize = Number(option('batch', '128'));
  const learningRate = Number(option('lr', '0.002'));
  // Default: the rate drops to a quarter after epochs 4 and 7.
  const decayAt = option('decay-at', '4,7').split(',').filter(Boolean).map(Number);
  const decayFactor = Number(option('decay', '0.25'));
  const choice = await useBackend('auto', { backends: [cpuBackend(), wasmBackend()] });
  const result = await runMultiDigit({
    dataset,
    strategy: hardSharing(),
    epochs,
    seed,
    batchSize,
    learningRate,
    decay: { at: decayAt, factor: decayFactor },
    onEpoch: (epoch, report, seconds) =>
      console.log(
        `epoch ${epoch + 1}/${epochs} (${seconds.toFixed(0)} s): ` +
          Object.entries(report.tasks)
            .map(([task, r]) => `${task} accuracy ${(100 * r.metrics.accuracy!).toFixed(2)}% (loss ${r.loss.toFixed(4)})`)
            .join(', '),
      ),
  });
  console.log(`final test accuracy on ${dataset}: ${Object.entries(result.accuracy).map(([t, a]) => `${t} ${(100 * a).toFixed(2)}%`).join(', ')}`);
  writeFileSync(
    new URL(`../results-${dataset}.json`, import.meta.url),
    JSON.stringify({ dataset, epochs, seed, batchSize, learningRate, decayAt, decayFactor, backend: choice.name, train: result.dataset.arrays.train.count, test: result.dataset.arrays.test.count, accuracy: result.accuracy }, null, 2) + '\n',
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
