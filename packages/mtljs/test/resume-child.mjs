// Runs in its own Node process, started by resume.test.ts. Usage:
//   node resume-child.mjs <straight|resume> <cpu|wasm> <dir> <weighting,...>
// straight: trains each weighting for EPOCHS epochs, writing a checkpoint after step MID and at the end.
// resume:   a fresh trainer loads the MID checkpoint and trains to the end of the same run.
import { Trainer, defaultRegistry, readCheckpointFile, syntheticTasks, useBackend, writeCheckpointFile } from '../dist/index.js';

export const EPOCHS = 3;
export const MID = 9; // steps done when the mid-run checkpoint is written: inside epoch 1 (6 batches per epoch)

const [mode, backend, dir, list] = process.argv.slice(2);
await useBackend(backend, { log: () => {} });

function setUp(weighting) {
  const data = syntheticTasks({ tasks: 3, trainSize: 96, validationSize: 16, inputDim: 8, batchSize: 16, seed: 5 });
  const model = defaultRegistry().get('sharing', 'hard').build({ tasks: data.tasks, inputShape: [8], encoder: { type: 'mlp', units: [16, 8] } }, { seed: 11 });
  const trainer = new Trainer({ model, weighting, optimizer: { name: 'adam', learningRate: 0.01 }, seed: 7 });
  return { data, model, trainer };
}

for (const weighting of list.split(',')) {
  const { data, model, trainer } = setUp(weighting);
  if (mode === 'straight') {
    await trainer.fit(data.train, {
      epochs: EPOCHS,
      callbacks: {
        async onStep(report) {
          if (report.step === MID - 1) await writeCheckpointFile(`${dir}/${weighting}-mid.mtlckpt`, await trainer.saveCheckpoint());
        },
      },
    });
    await writeCheckpointFile(`${dir}/${weighting}-straight.mtlckpt`, await trainer.saveCheckpoint());
  } else {
    await trainer.loadCheckpoint(await readCheckpointFile(`${dir}/${weighting}-mid.mtlckpt`));
    if (trainer.stepCount !== MID) throw new Error(`resumed at step ${trainer.stepCount}, expected ${MID}`);
    await trainer.fit(data.train, { epochs: EPOCHS - trainer.epoch });
    await writeCheckpointFile(`${dir}/${weighting}-resumed.mtlckpt`, await trainer.saveCheckpoint());
  }
  trainer.dispose();
  model.dispose();
}
process.stdout.write(`ok ${mode} ${backend} ${list}\n`);
