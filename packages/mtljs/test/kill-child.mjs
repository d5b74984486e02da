// Runs in its own Node process, started by checkpoint-kill.test.ts, which kills it (SIGKILL) while
// it writes. Usage: node kill-child.mjs <checkpoint path> <first step number>
// It trains a model of ~1.1M parameters (a checkpoint of ~13 MB with Adam's slots) and after every
// step writes the checkpoint to the same path, announcing each write on stdout.
import { Trainer, hardSharing, useBackend, writeCheckpointFile } from '../dist/index.js';
import * as tf from '@tensorflow/tfjs-core';

const [path, first] = process.argv.slice(2);
await useBackend('cpu', { log: () => {} });
const tasks = [
  { name: 'a', kind: 'regression', units: 1 },
  { name: 'b', kind: 'regression', units: 1 },
];
const model = hardSharing().build({ tasks, inputShape: [1024], encoder: { type: 'mlp', units: [1024, 64] } }, { seed: 3 });
const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 1e-3 }, seed: 3 });
const batch = { inputs: tf.randomNormal([8, 1024], 0, 1, 'float32', 5), targets: { a: tf.ones([8, 1]), b: tf.zeros([8, 1]) } };
for (let i = Number(first); ; i++) {
  trainer.step(batch);
  const checkpoint = await trainer.saveCheckpoint({ write: i });
  process.stdout.write(`writing ${i}\n`);
  await writeCheckpointFile(path, checkpoint);
  process.stdout.write(`wrote ${i}\n`);
}
