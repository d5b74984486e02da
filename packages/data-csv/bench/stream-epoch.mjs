// Streams a generated CSV of 1,000,000 rows × 20 columns through one training epoch and prints
// peak RSS and rows/s. A benchmark, not a test: run it after `npx tsup` in packages/data-csv:
//
//   node bench/stream-epoch.mjs [--rows 1000000] [--batch 1024] [--keep]
//
// The file is written to os.tmpdir() in streamed chunks (never held in memory) and removed at the
// end unless --keep. Acceptance: peak RSS under 500 MB.
import { createWriteStream, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { disposeBatch, Trainer } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { csvSource, fitCsvSchema } from '../dist/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROWS = option('rows', 1_000_000);
const BATCH = option('batch', 1024);
const INPUTS = 18;
const path = join(tmpdir(), `mtljs-stream-epoch-${process.pid}.csv`);

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);
const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
/** Wall and CPU seconds since `start` (the machine may be shared, so CPU time is the steadier number). */
const phase = () => {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { wall: (performance.now() - wall) / 1000, cpu: (used.user + used.system) / 1e6 };
  };
};
const rate = (rows, { wall, cpu }) => `${rows} rows in ${wall.toFixed(1)} s wall (${Math.round(rows / wall)} rows/s), ${cpu.toFixed(1)} s CPU (${Math.round(rows / cpu)} rows per CPU-second)`;

/** 18 numeric inputs, a regression target and a 3-class target; ~10% of each target cell empty. */
async function generate() {
  const out = createWriteStream(path);
  const header = [...Array.from({ length: INPUTS }, (_, j) => `f${j}`), 'reg', 'cls'].join(',');
  out.write(`${header}\n`);
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const classes = ['a', 'b', 'c'];
  for (let start = 0; start < ROWS; start += 2000) {
    let chunk = '';
    for (let i = start; i < Math.min(start + 2000, ROWS); i++) {
      const x = Array.from({ length: INPUTS }, () => random() * 4 - 2);
      const reg = random() < 0.1 ? '' : (x[0] + 0.5 * x[1] - x[2] + 0.1 * random()).toFixed(4);
      const cls = random() < 0.1 ? '' : classes[x[3] > 0.5 ? 2 : x[3] > -0.5 ? 1 : 0];
      chunk += `${x.map((v) => v.toFixed(4)).join(',')},${reg},${cls}\n`;
    }
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

await tf.setBackend('cpu');
const t0 = performance.now();
await generate();
console.log(`generated ${ROWS} rows × ${INPUTS + 2} columns (${mb(statSync(path).size)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${path}`);

const mapping = {
  inputs: Array.from({ length: INPUTS }, (_, j) => `f${j}`),
  tasks: { reg: { kind: 'regression', column: 'reg' }, cls: { kind: 'multiclass', column: 'cls' } },
};
const fitting = phase();
const schema = await fitCsvSchema(path, mapping);
console.log(`fitCsvSchema (one pass: types, classes, mean/std): ${rate(schema.rows, fitting())}`);

// The data pipeline alone (parse, encode, shuffle buffer, tensors), as the trainer would read it.
const streaming = phase();
let streamed = 0;
for await (const batch of csvSource(path, { schema, batchSize: BATCH }).shuffled(7)) {
  streamed += batch.inputs.shape[0];
  disposeBatch(batch);
}
console.log(`data only (parse, encode, shuffle buffer, tensors; batches of ${BATCH}, no training): ${rate(streamed, streaming())}`);

const model = hardSharing().build({ tasks: schema.tasks, inputShape: [schema.inputWidth], encoder: { type: 'mlp', units: [32] } }, { seed: 1 });
const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 1e-3 }, seed: 1 });
const source = csvSource(path, { schema, batchSize: BATCH });
let last;
const training = phase();
const [epoch] = await trainer.fit(source, { epochs: 1, callbacks: { onStep: (r) => void (last = r) } });
const trained = training();
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
console.log(`one training epoch (18 → mlp [32] → 2 heads, Adam, shuffle buffer 10 000, batch ${BATCH}, cpu backend): ${epoch.steps} steps, ${rate(source.size, trained)}`);
console.log(`last step losses: reg ${last.losses.reg.toFixed(4)}, cls ${last.losses.cls.toFixed(4)}; epoch means: reg ${epoch.trainLosses.reg.toFixed(4)}, cls ${epoch.trainLosses.cls.toFixed(4)}`);
console.log(`peak RSS (sampled every 20 ms): ${mb(peakRss)} MB; process.resourceUsage().maxRSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB (${process.resourceUsage().maxRSS} KB)`);
console.log(`live tensors after the epoch: ${tf.memory().numTensors} (model variables and optimizer slots)`);
trainer.dispose();
model.dispose();
if (!args.includes('--keep')) rmSync(path, { force: true });
const limit = 500;
console.log(peakRss / 2 ** 20 < limit ? `OK: peak RSS under ${limit} MB` : `OVER: peak RSS ${mb(peakRss)} MB ≥ ${limit} MB`);
