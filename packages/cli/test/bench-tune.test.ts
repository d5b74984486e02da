// mtl bench and mtl tune through the built binary, on tiny synthetic data (4 steps per run).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mtl, temporaryDir, tinyConfig } from './helpers';

describe('mtl bench', () => {
  it('runs 2 weightings × 1 seed with single-task baselines and writes a ranked table with Δm%', async () => {
    const dir = temporaryDir('mtl-bench-');
    const config = tinyConfig(dir, 'tiny', { baselines: true, probe: { every: 2 } });
    const out = join(dir, 'bench');
    const outcome = await mtl(['bench', config, '--weightings', 'ew,pcgrad', '--seeds', '3', '--out', out]);
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8'));
    expect(json.split).toBe('validation');
    expect(json.rows.map((row: { weighting: string }) => row.weighting).sort()).toEqual(['ew', 'pcgrad']);
    expect(json.rows.map((row: { rank: number }) => row.rank)).toEqual([1, 2]);
    for (const row of json.rows) {
      expect(row.seeds).toEqual([3]);
      expect(Number.isFinite(row.deltaM.mean)).toBe(true);
      expect(row.metrics.task1.metric).toBe('rmse');
      expect(row.metrics.task1.mean).toBeGreaterThan(0);
    }
    expect(json.rows[0].deltaM.mean).toBeGreaterThanOrEqual(json.rows[1].deltaM.mean);
    expect(json.rows.find((row: { weighting: string }) => row.weighting === 'pcgrad').site).toBe('shared');
    const markdown = readFileSync(join(out, 'bench.md'), 'utf8');
    expect(markdown).toContain('| rank | sharing | weighting | site | task1 rmse | task2 rmse | mean loss | Δm% | s/run |');
    expect(markdown).toMatch(/^\| 1 \| hard \| (ew|pcgrad) \|/m);
    expect(markdown).toMatch(/^\| 2 \| hard \| (ew|pcgrad) \|/m);
    expect(outcome.stdout).toContain(markdown);
    for (const run of ['hard+ew-seed3', 'hard+pcgrad-seed3', 'baselines-seed3/single-task1', 'baselines-seed3/single-task2']) {
      expect(existsSync(join(out, run, 'log.jsonl'))).toBe(true);
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('hard+pcgrad seed 3');
    expect(html).toContain('Δm');
  });
});

describe('mtl tune', () => {
  it('runs 3 random trials and ranks them by mean validation loss', async () => {
    const dir = temporaryDir('mtl-tune-');
    const config = tinyConfig(dir, 'tiny-tune', { weighting: 'ew' });
    const space = join(dir, 'space.json');
    writeFileSync(space, JSON.stringify({ 'optimizer.learningRate': { min: 1e-3, max: 3e-2, log: true }, 'model.encoder.units': [[16], [8, 8]] }));
    const out = join(dir, 'tune');
    const outcome = await mtl(['tune', config, '--space', space, '--trials', '3', '--seed', '4', '--out', out]);
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'tune.json'), 'utf8'));
    expect(json.objective).toEqual({ description: 'mean validation loss over tasks', split: 'validation', direction: 'lower' });
    expect(json.trials).toHaveLength(3);
    const objectives = json.trials.map((t: { objective: number }) => t.objective);
    expect(objectives).toEqual([...objectives].sort((a, b) => a - b));
    expect(json.trials.map((t: { rank: number }) => t.rank)).toEqual([1, 2, 3]);
    expect(json.trials.map((t: { trial: number }) => t.trial).sort()).toEqual([1, 2, 3]);
    for (const trial of json.trials) {
      expect(trial.params['optimizer.learningRate']).toBeGreaterThanOrEqual(1e-3);
      expect(trial.params['optimizer.learningRate']).toBeLessThanOrEqual(3e-2);
      const resolved = JSON.parse(readFileSync(join(trial.dir, 'config.json'), 'utf8'));
      expect(resolved.optimizer.learningRate).toBe(trial.params['optimizer.learningRate']);
      expect(resolved.model.encoder.units).toEqual(trial.params['model.encoder.units']);
    }
    const markdown = readFileSync(join(out, 'tune.md'), 'utf8');
    expect(markdown).toContain('| rank | trial | optimizer.learningRate | model.encoder.units | objective | task1 rmse | task2 rmse | s |');
    expect(markdown.trim().split('\n').filter((line) => /^\| \d /.test(line))).toHaveLength(3);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('validates every trial like a config before training any', async () => {
    const dir = temporaryDir('mtl-tune-bad-');
    const config = tinyConfig(dir, 'tiny-tune');
    const space = join(dir, 'space.json');
    writeFileSync(space, JSON.stringify({ 'model.encoder.units': [[8], [0]] }));
    const outcome = await mtl(['tune', config, '--space', space, '--method', 'grid', '--out', join(dir, 'tune')]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/^mtl: .*space\.json trial 2: model\.encoder\.units\[0\]: expected a positive integer, got 0$/m);
    expect(existsSync(join(dir, 'tune', 'trial-1'))).toBe(false);
  });
});
