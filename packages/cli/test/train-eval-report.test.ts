// The built `mtl` binary end to end: train the synthetic example (stdout a pipe), read its run log
// back, evaluate its checkpoint, render its report and open that in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core; no browser is downloaded).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseRunLog, type RunLog } from '@mtljs/report';
import { chromium as chromiumSystem } from '@mtljs/vitest-config';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mtl, PACKAGE_DIR, temporaryDir, type Outcome } from './helpers';

const CONTROL = /[\r\x1b]/;
const SCREENSHOT = join(PACKAGE_DIR, 'test-results', 'report.png');

describe('mtl train examples/synthetic.json (not a TTY)', () => {
  const dir = temporaryDir('mtl-train-');
  const run = join(dir, 'run');
  let trained: Outcome;
  let lines: Record<string, unknown>[];
  let log: RunLog;

  beforeAll(async () => {
    trained = await mtl(['train', 'examples/synthetic.json', '--out', run, '--backend', 'wasm']);
    if (trained.code !== 0) throw new Error(`mtl train exited ${trained.code}:\n${trained.stderr}`);
    const text = readFileSync(join(run, 'log.jsonl'), 'utf8');
    lines = text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    log = parseRunLog(text, 'log.jsonl');
  });

  it('exits 0 and prints plain lines: one per epoch, no carriage return or escape code', () => {
    expect(trained.code).toBe(0);
    expect(trained.stderr).toBe('');
    expect(trained.stdout).not.toMatch(CONTROL);
    expect(trained.stdout).toMatch(/^mtljs: using backend 'wasm'/m);
    expect(trained.stdout).toMatch(/^epoch 1\/2: 32 steps in [\d.]+ s; train loss task1 [\d.]+ task2 [\d.]+; mean weights .*; validation task1: loss [\d.]+, rmse/m);
    expect(trained.stdout).toMatch(/^epoch 2\/2: 32 steps/m);
    expect(trained.stdout).toContain(`report: ${join(run, 'report.html')}`);
  });

  it('writes a run log with run, step, cosine, epoch, checkpoint, eval and end records', () => {
    expect(new Set(lines.map((line) => line.type))).toEqual(new Set(['run', 'step', 'cosine', 'epoch', 'checkpoint', 'eval', 'end']));
    expect(log.run).toMatchObject({ name: 'synthetic-pcgrad', sharing: 'hard', weighting: 'pcgrad', site: 'shared', backend: 'wasm', seed: 1, role: 'multi-task' });
    expect(log.run.tasks.map((t) => t.name)).toEqual(['task1', 'task2']);
    expect(log.steps).toHaveLength(64); // 1024 examples / 32 per batch × 2 epochs, log.every 1
    expect(log.steps.every((s) => s.loss !== null && s.losses.task1 !== null && s.weights.task2 !== null)).toBe(true);
    // pcgrad computes the Gramian, so the cosines come from it, one per logged step.
    expect(log.cosines).toHaveLength(64);
    for (const cosine of log.cosines) {
      expect(cosine.source).toBe('gramian');
      expect(cosine.values[0]![0]).toBeCloseTo(1, 6);
      expect(cosine.values[0]![1]).toBe(cosine.values[1]![0]);
    }
    expect(log.epochs.map((e) => e.steps)).toEqual([32, 32]);
    expect(log.epochs[1]!.validation!.task1!.metrics.rmse).toBeGreaterThan(0);
    expect(log.checkpoints.map((c) => c.path)).toEqual(['checkpoints/epoch-1.mtlckpt', 'checkpoints/epoch-2.mtlckpt']);
    expect(log.checkpoints.map((c) => [c.epoch, c.step])).toEqual([[0, 32], [1, 64]]);
    expect(log.evals).toHaveLength(1);
    expect(log.evals[0]!.split).toBe('validation');
    expect(log.end).toMatchObject({ status: 'completed', steps: 64 });
  });

  it('writes the checkpoints and the resolved config', () => {
    for (const epoch of [1, 2]) expect(existsSync(join(run, 'checkpoints', `epoch-${epoch}.mtlckpt`))).toBe(true);
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ name: 'synthetic-pcgrad', backend: 'wasm', epochs: 2, weighting: 'pcgrad', checkpoint: { every: 'epoch' } });
  });

  it('mtl eval <run> reproduces the final evaluation from the last checkpoint (to 1e-6)', async () => {
    const evaluated = await mtl(['eval', run, '--json']);
    expect(evaluated.stderr).toBe('');
    expect(evaluated.code).toBe(0);
    const result = JSON.parse(evaluated.stdout);
    expect(result.checkpoint).toBe(join(run, 'checkpoints', 'epoch-2.mtlckpt'));
    expect(result.split).toBe('validation');
    expect(result.step).toBe(64);
    const logged = log.evals[0]!.tasks;
    for (const task of ['task1', 'task2']) {
      expect(result.tasks[task].count).toBe(logged[task]!.count);
      expect(Math.abs(result.tasks[task].loss - logged[task]!.loss!)).toBeLessThan(1e-6);
      for (const metric of ['rmse', 'mae', 'r2']) expect(Math.abs(result.tasks[task].metrics[metric] - logged[task]!.metrics[metric]!)).toBeLessThan(1e-6);
    }
    // The first checkpoint gives a different (earlier) model.
    const first = await mtl(['eval', join(run, 'checkpoints', 'epoch-1.mtlckpt')]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/epoch 1, step 32\); split validation:\n {2}task1: loss [\d.]+ {2}rmse/);
  });

  const html = join(dir, 'report.html');

  it('mtl report <run> writes one HTML file', async () => {
    const reported = await mtl(['report', run, '--out', html, '--title', 'cli test report']);
    expect(reported.code).toBe(0);
    expect(reported.stdout).toBe(`report of 1 run(s): ${html}\n`);
    expect(readFileSync(html, 'utf8')).toContain('cli test report');
  });

  it.skipIf(!chromiumSystem.run)(`the report's charts render in headless Chromium, with no network request${chromiumSystem.note}`, async () => {
    expect(existsSync(html)).toBe(true);
    const browser = await chromium.launch({ executablePath: chromiumSystem.path });
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
      mkdirSync(join(PACKAGE_DIR, 'test-results'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const facts = await page.evaluate(() => ({
        charts: document.querySelectorAll('svg.mtl-chart').length,
        lossSeries: Array.from(document.querySelectorAll<SVGPathElement>('svg[aria-label="Training loss per task"] path.mtl-series')).map((p) => ({
          name: p.dataset.series,
          points: Number(p.dataset.points),
          drawn: p.getBBox().width > 0,
        })),
        heatmaps: document.querySelectorAll('svg[data-chart="heatmap"]').length,
      }));
      expect(facts.charts).toBeGreaterThanOrEqual(3);
      expect(facts.lossSeries.map((s) => s.name)).toEqual(['task1', 'task2']);
      for (const series of facts.lossSeries) {
        expect(series.points).toBeGreaterThan(1);
        expect(series.drawn).toBe(true);
      }
      expect(facts.heatmaps).toBe(1);
      expect(requests).toEqual([pathToFileURL(html).href]);
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
