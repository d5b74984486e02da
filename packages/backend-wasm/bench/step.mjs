// The wasm step benchmark (issue "Backends", acceptance 3): on the 784→256→128→2×10 MLP with
// batch 256, one mtljs hard-sharing equal-weighting step vs two hand-written raw tfjs steps of the
// same model — one with the transpose-free dense backward (explicit tf.transpose + matMul in a
// customGrad, what core's `dense` does) and one with plain tf.matMul (whose backward uses matMul's
// transposeA/B flags, ~10× slower on wasm). All three use SGD and read their loss back once per
// step, run interleaved in one process; medians (and min–max) over the timed steps after warm-up.
//
//   pnpm --filter @mtljs/backend-wasm bench        (or: node bench/step.mjs --steps 30)
import * as tf from '@tensorflow/tfjs-core';
import { Trainer, useBackend } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { wasmBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const STEPS = option('steps', 30);
const WARMUP = 5;
const BATCH = 256;
const LR = 0.01;

await useBackend('wasm', { backends: [wasmBackend()], log: () => {} });

// Fixed data: inputs, two 10-class targets.
const x = tf.randomUniform([BATCH, 784], 0, 1, 'float32', 1);
const labels = { a: tf.randomUniform([BATCH], 0, 10, 'int32', 2), b: tf.randomUniform([BATCH], 0, 10, 'int32', 3) };
const oneHot = { a: tf.oneHot(labels.a, 10), b: tf.oneHot(labels.b, 10) };

function rawModel(seed) {
  const v = (shape, s) => tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', s), Math.sqrt(2 / shape[0])));
  return {
    w1: v([784, 256], seed), b1: tf.variable(tf.zeros([256])),
    w2: v([256, 128], seed + 1), b2: tf.variable(tf.zeros([128])),
    wa: v([128, 10], seed + 2), ba: tf.variable(tf.zeros([10])),
    wb: v([128, 10], seed + 3), bb: tf.variable(tf.zeros([10])),
  };
}

const fastDense = tf.customGrad((input, kernel, bias, save) => {
  save([input, kernel]);
  return {
    value: tf.add(tf.matMul(input, kernel), bias),
    gradFunc: (dy, [savedInput, savedKernel]) => [tf.matMul(dy, tf.transpose(savedKernel)), tf.matMul(tf.transpose(savedInput), dy), tf.sum(dy, 0)],
  };
});
const plainDense = (input, kernel, bias) => tf.add(tf.matMul(input, kernel), bias);

function rawStep(model, dense, optimizer) {
  const { value, grads } = tf.variableGrads(() => {
    const h = tf.relu(dense(tf.relu(dense(x, model.w1, model.b1)), model.w2, model.b2));
    const la = tf.losses.softmaxCrossEntropy(oneHot.a, dense(h, model.wa, model.ba));
    const lb = tf.losses.softmaxCrossEntropy(oneHot.b, dense(h, model.wb, model.bb));
    return tf.add(la, lb);
  });
  optimizer.applyGradients(grads);
  value.dataSync();
  value.dispose();
  Object.values(grads).forEach((g) => g.dispose());
}

const spec = {
  tasks: [
    { name: 'a', kind: 'multiclass', units: 10 },
    { name: 'b', kind: 'multiclass', units: 10 },
  ],
  inputShape: [784],
  encoder: { type: 'mlp', units: [256, 128] },
};
const model = hardSharing().build(spec, { seed: 1 });
const trainer = new Trainer({ model, optimizer: { name: 'sgd', learningRate: LR } });
const batch = { inputs: x, targets: labels };

const fast = rawModel(10);
const plain = rawModel(20);
const fastOptimizer = tf.train.sgd(LR);
const plainOptimizer = tf.train.sgd(LR);
const runs = {
  mtljs: () => trainer.step(batch),
  rawTransposeFree: () => rawStep(fast, fastDense, fastOptimizer),
  rawPlainMatMul: () => rawStep(plain, plainDense, plainOptimizer),
};
const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let i = 0; i < WARMUP + STEPS; i++) {
  for (const [name, run] of Object.entries(runs)) {
    const started = performance.now();
    run();
    if (i >= WARMUP) times[name].push(performance.now() - started);
  }
}
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
for (const [name, list] of Object.entries(times)) {
  console.log(`${name.padEnd(18)} median ${median(list).toFixed(1)} ms (min ${Math.min(...list).toFixed(1)}, max ${Math.max(...list).toFixed(1)}) over ${list.length} steps`);
}
const m = median(times.mtljs);
console.log(`ratio mtljs / raw transpose-free: ${(m / median(times.rawTransposeFree)).toFixed(3)} (target ≤ 1.2)`);
console.log(`ratio mtljs / raw plain matMul:   ${(m / median(times.rawPlainMatMul)).toFixed(3)} (target ≤ 0.35)`);

// Where an mtljs step's time goes, by kernel (tf.profile; kernel times include their data waits).
if (args.includes('--profile')) {
  const info = await tf.profile(() => {
    trainer.step(batch);
  });
  const byKernel = new Map();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    byKernel.set(k.name, entry);
  }
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(`\nprofile of one mtljs step: ${info.kernels.length} kernels, ${total.toFixed(1)} ms in kernels`);
  for (const [name, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    console.log(`  ${name.padEnd(22)} ${e.ms.toFixed(2).padStart(7)} ms  ${String(e.calls).padStart(3)} calls`);
  }
}
