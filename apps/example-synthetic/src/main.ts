import { defaultRegistry, register, Trainer, useBackend, type EvaluationReport, type Plugin } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { syntheticTasks } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { pcgrad } from '@mtljs/weighting-pcgrad';
import { uncertainty } from '@mtljs/weighting-uncertainty';

// The main job: a hard-sharing MLP trained with equal weighting (or --weighting=pcgrad,
// uncertainty, static) on the synthetic tasks of the MMoE paper (two regression tasks whose linear
// parts have correlation p), printing each task's validation loss and metrics after every epoch
// and at the end. It depends on a few packages only, so the first run builds little; the umbrella
// `mtljs` registers every weighting.

function text(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  const found = process.argv.find((a) => a.startsWith(prefix));
  return found ? found.slice(prefix.length) : fallback;
}

function argument(name: string, fallback: number): number {
  const value = Number(text(name, String(fallback)));
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number`);
  return value;
}

function formatTasks(report: EvaluationReport): string {
  return Object.entries(report.tasks)
    .map(([task, r]) => {
      const metrics = Object.entries(r.metrics)
        .map(([name, value]) => `${name} ${value.toFixed(4)}`)
        .join(', ');
      return `  ${task}: loss ${r.loss.toFixed(4)} (${metrics})`;
    })
    .join('\n');
}

async function main(): Promise<void> {
  const epochs = argument('epochs', 8);
  const correlation = argument('correlation', 0.8);
  const seed = argument('seed', 42);
  const trainSize = argument('train-size', 8000);
  const weighting = text('weighting', 'ew');
  const plugins: Plugin[] = [cpuBackend(), wasmBackend(), hardSharing(), pcgrad(), uncertainty()];
  for (const plugin of plugins) if (!defaultRegistry().has(plugin.kind, plugin.name)) register(plugin);
  await useBackend('auto');

  const data = syntheticTasks({ tasks: 2, correlation, trainSize, validationSize: 2000, seed, batchSize: 128 });
  const model = defaultRegistry().get('sharing', 'hard').build(
    { tasks: data.tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [64, 32] }, head: { type: 'mlp', units: [16] } },
    { seed },
  );
  const trainer = new Trainer({ model, weighting, optimizer: { name: 'adam', learningRate: 3e-3 }, seed });

  console.log(`mtljs main job: hard sharing + weighting '${weighting}', ${data.tasks.length} synthetic regression tasks (correlation ${correlation}), ${epochs} epochs`);
  const initial = await trainer.evaluate(data.validation);
  console.log(`before training (validation):\n${formatTasks(initial)}`);
  const started = Date.now();
  await trainer.fit(data.train, {
    epochs,
    validation: data.validation,
    callbacks: {
      onEpochEnd(report) {
        const train = Object.entries(report.trainLosses)
          .map(([task, loss]) => `${task} ${loss.toFixed(4)}`)
          .join(', ');
        console.log(`epoch ${report.epoch + 1}/${epochs} (train loss: ${train}) validation:\n${formatTasks(report.validation!)}`);
      },
    },
  });
  const final = await trainer.evaluate(data.validation);
  console.log(`final (validation), ${((Date.now() - started) / 1000).toFixed(1)} s of training:\n${formatTasks(final)}`);
  for (const task of Object.keys(final.tasks)) {
    const ratio = final.tasks[task]!.loss / initial.tasks[task]!.loss;
    console.log(`  ${task}: validation loss is ${(100 * ratio).toFixed(1)}% of its initial value`);
  }
  trainer.dispose();
  model.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
