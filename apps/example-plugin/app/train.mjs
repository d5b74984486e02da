// Registers the third-party weighting, trains hard sharing with it on the synthetic tasks, and
// prints one line per task: the numbers a reader compares across weightings.
import { hardSharing, register, syntheticTasks, Trainer, useBackend } from 'mtljs';
import { signAgreement } from 'mtljs-weighting-sign-agreement';

await useBackend('cpu');
// The e2e test checks that this path lies in the app's own node_modules, not in the workspace.
console.log(`plugin loaded from ${import.meta.resolve('mtljs-weighting-sign-agreement')}`);
register(signAgreement());

const data = syntheticTasks({ tasks: 2, correlation: 0.5, inputDim: 16, trainSize: 512, validationSize: 128, batchSize: 32, seed: 7 });
const model = hardSharing().build(
  { tasks: data.tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [32, 16] }, head: { type: 'mlp', units: [8] } },
  { seed: 7 },
);
const trainer = new Trainer({ model, weighting: 'sign-agreement', optimizer: { name: 'adam', learningRate: 0.01 }, seed: 7 });
const format = (values) => Object.entries(values).map(([task, value]) => `${task} ${value.toPrecision(4)}`).join(', ');
await trainer.fit(data.train, {
  epochs: 3,
  validation: data.validation,
  callbacks: {
    onEpochEnd: (epoch) => console.log(`epoch ${epoch.epoch + 1}: train loss ${format(epoch.trainLosses)}; mean weights ${format(epoch.meanWeights)}`),
  },
});
const evaluation = await trainer.evaluate(data.validation);
for (const [task, result] of Object.entries(evaluation.tasks)) {
  console.log(`task ${task}: validation loss ${result.loss.toPrecision(4)}; ${format(result.metrics)} (${result.count} examples)`);
}
trainer.dispose();
model.dispose();
