import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// The main job, run as README runs it (the built dist/main.js in plain Node), shortened.
const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('prints per-task validation metrics each epoch and at the end, and every task improves', () => {
  const out = execFileSync(process.execPath, ['dist/main.js', '--epochs=2', '--train-size=2000'], { cwd: appDir, encoding: 'utf8' });
  expect(out).toMatch(/mtljs: using backend '(wasm|cpu)'/);
  expect(out).toMatch(/epoch 1\/2 .*validation:\n {2}task1: loss [\d.]+ \(rmse [\d.]+, mae [\d.]+, r2 -?[\d.]+\)\n {2}task2: loss/);
  expect(out).toContain('epoch 2/2');
  const ratios = [...out.matchAll(/(task\d): validation loss is ([\d.]+)% of its initial value/g)].map((m) => Number(m[2]));
  expect(ratios).toHaveLength(2);
  for (const ratio of ratios) expect(ratio).toBeLessThan(100);
});
