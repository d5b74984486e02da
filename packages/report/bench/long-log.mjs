// Times parseRunLog and renderReport on a long run log: 50,000 steps of 3 tasks, every step
// logged, a cosine record every 50 steps, an epoch (with validation) every 1,000 steps, built with
// RunLogWriter from made-up step reports. Run after `npx tsup`: node bench/long-log.mjs
import { parseRunLog, renderReport, RunLogWriter } from '../dist/index.js';

const STEPS = 50_000;
const tasks = ['a', 'b', 'c'];
const lines = [];
const writer = new RunLogWriter((line) => void lines.push(line));
await writer.start({ name: 'long', tasks: tasks.map((name) => ({ name, kind: 'regression', units: 1 })), sharing: 'hard', weighting: 'pcgrad', site: 'shared', backend: 'cpu', seed: 0 });
const callbacks = writer.callbacks({ every: 1 });
// A linear congruential generator (Numerical Recipes constants): the same log every run.
let state = 1;
const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const gramian = { tasks, values: [[1, 0.2, -0.1], [0.2, 1, 0.3], [-0.1, 0.3, 1]] };
for (let step = 0; step < STEPS; step++) {
  const losses = Object.fromEntries(tasks.map((task, i) => [task, (1 + i) * Math.exp(-step / 10_000) + 0.1 * random()]));
  const weights = Object.fromEntries(tasks.map((task) => [task, random()]));
  await callbacks.onStep({ step, epoch: Math.floor(step / 1000), loss: 1, losses, weights, active: {}, warnings: [], gramian: step % 50 === 0 ? gramian : undefined });
  if (step % 1000 === 999) {
    const validation = { tasks: Object.fromEntries(tasks.map((task) => [task, { loss: 0.5, count: 100, metrics: { rmse: 0.7 - step / 1e6, mae: 0.5 } }])) };
    await callbacks.onEpochEnd({ epoch: Math.floor(step / 1000), steps: 1000, trainLosses: losses, meanWeights: { a: 1, b: 1, c: 1 }, validation });
  }
}
await writer.end('completed');
const text = lines.join('');
let started = performance.now();
const log = parseRunLog(text, 'long.jsonl');
const parseMs = performance.now() - started;
started = performance.now();
const html = renderReport({ runs: [log] });
const renderMs = performance.now() - started;
console.log(
  `log: ${lines.length} lines, ${(text.length / 1e6).toFixed(1)} MB; parseRunLog ${parseMs.toFixed(0)} ms; renderReport ${renderMs.toFixed(0)} ms; page ${(html.length / 1024).toFixed(0)} KiB`,
);
