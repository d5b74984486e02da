import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResultsFile } from './benchmark';

// The built dist/main.js in plain Node, as the README runs it, on a small slice of MultiMNIST.
const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'mtljs-benchmarks-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function main(args: string[]) {
  return spawnSync(process.execPath, ['dist/main.js', ...args], { cwd: appDir, encoding: 'utf8' });
}

describe('dist/main.js', () => {
  it('writes the table, the JSON, the run logs and the report for three weightings and the single-task baselines', () => {
    const run = main(['--train-size=512', '--test-size=512', '--epochs=1', '--weightings=ew,pcgrad,uncertainty', '--probe-every=4', `--out=${out}`]);
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);

    const results = JSON.parse(readFileSync(join(out, 'results-multi-mnist.json'), 'utf8')) as ResultsFile;
    expect(results.setup).toMatchObject({ trainSize: 512, testSize: 512, epochs: 1, seeds: [0] });
    expect(results.rows.map((r) => r.method).sort()).toEqual(['ew', 'pcgrad', 'single-task', 'uncertainty']);
    expect(results.rows[0]!.method).toBe('single-task');
    for (const row of results.rows) {
      expect(Number.isFinite(row.deltaM)).toBe(true);
      expect(row.seconds).toBeGreaterThan(0);
    }
    expect(results.rows.find((r) => r.method === 'pcgrad')!.site).toBe('shared');
    expect(results.runs).toHaveLength(5);
    // Chance is 10% (±1.3% over 512 images); 4 steps of 128 already beat it on at least one task.
    const best = Math.max(...results.runs.flatMap((r) => Object.values(r.accuracy)));
    expect(best).toBeGreaterThan(0.15);

    const table = readFileSync(join(out, 'results-multi-mnist.md'), 'utf8').trimEnd().split('\n');
    expect(table).toHaveLength(2 + 4);
    for (const method of ['single-task models', 'ew', 'pcgrad', 'uncertainty']) expect(table.some((line) => line.startsWith(`| ${method} |`))).toBe(true);
    expect(run.stdout).toContain(table[0]);

    const folder = join(out, 'results', 'multi-mnist');
    expect(readdirSync(folder).filter((f) => f.endsWith('.jsonl')).sort()).toEqual(
      ['ew-seed0.jsonl', 'pcgrad-seed0.jsonl', 'single-left-seed0.jsonl', 'single-right-seed0.jsonl', 'uncertainty-seed0.jsonl'],
    );
    const report = readFileSync(join(folder, 'report.html'), 'utf8');
    expect(report).toMatch(/^<!DOCTYPE html>/i);
    expect(report).toContain('<svg');
    expect(report).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
  }, 60_000);

  it('exits 2 with a message naming the option for a bad value or an unknown weighting', () => {
    const badSize = main(['--train-size=lots', `--out=${out}`]);
    expect(badSize.status).toBe(2);
    expect(badSize.stderr).toContain("--train-size: expected an integer ≥ 1, got 'lots'");
    const unknown = main(['--weightings=ew,pcgard', '--train-size=64', '--test-size=64', `--out=${join(out, 'unknown')}`]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--weightings: no weighting named 'pcgard' is registered/);
    expect(existsSync(join(out, 'unknown', 'results-multi-mnist.json'))).toBe(false);
  }, 30_000);
});
