import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ComparisonResult } from './experiment';

// The app as the README runs it: the built dist/main.js in plain Node, on a small problem.
const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'mtljs-kinetics-'));

beforeAll(() => {
  // turbo builds before testing; a bare `vitest run` in this folder builds here.
  if (!existsSync(join(appDir, 'dist/main.js'))) execFileSync(process.execPath, [join(appDir, 'node_modules/tsup/dist/cli-default.js')], { cwd: appDir, stdio: 'ignore' });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

it('prints the comparison table, writes the results, and every model improves on its initial test loss', () => {
  const out = join(work, 'results.json');
  const stdout = execFileSync(
    process.execPath,
    ['dist/main.js', '--seeds=2', '--epochs=3', '--train-size=192', '--test-size=128', '--labelled-ea=1,0.25', '--encoder=32,32', '--head=16', '--lr=0.01', `--out=${out}`],
    { cwd: appDir, encoding: 'utf8' },
  );
  expect(stdout).toMatch(/mtljs: using backend '(wasm|cpu)'/);
  expect(stdout).toContain('| Ea labels | model | ln k RMSE |');
  for (const row of ['| 192/192 | single-task |', '| 48/192 | hard+ew |', '| 48/192 | hard+uncertainty |', '| 48/192 | single-task+uncertainty |']) {
    expect(stdout).toContain(row);
  }
  const results = JSON.parse(readFileSync(out, 'utf8')) as ComparisonResult & { backend: string };
  expect(results.steps).toBe(3 * Math.ceil(192 / 64));
  expect(results.regimes.map((r) => r.labelledEaCount)).toEqual([192, 48]);
  for (const regime of results.regimes) {
    for (const [name, model] of Object.entries(regime.models)) {
      expect(model.runs.map((r) => r.seed)).toEqual([1, 2]);
      for (const run of model.runs) {
        for (const [task, score] of Object.entries(run.tasks)) {
          expect(score.finalLoss, `${name}, seed ${run.seed}, ${task}`).toBeLessThan(score.initialLoss);
          expect(Number.isFinite(score.rmse) && Number.isFinite(score.mae) && Number.isFinite(score.r2)).toBe(true);
        }
        if (name !== 'single-task') expect(Number.isFinite(run.deltaM)).toBe(true);
      }
    }
  }
});

it('exits with status 1 and names the option when an option is bad', () => {
  const run = spawnSync(process.execPath, ['dist/main.js', '--labelled-ea=2'], { cwd: appDir, encoding: 'utf8' });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain("option --labelled-ea: expected comma-separated fractions in (0, 1], got '2'");
});
