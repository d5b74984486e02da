import { describe, expect, it } from 'vitest';
import { markdownTable, rankRows, replaceBetweenMarkers, summarise, type RunResult } from './results';

const TASKS = ['left', 'right'];

function run(id: string, seed: number, accuracy: Record<string, number>, extra: Partial<RunResult> = {}): RunResult {
  const single = id.startsWith('single-');
  return {
    id,
    seed,
    role: single ? 'single-task' : 'multi-task',
    weighting: single ? 'ew' : id,
    level: 'loss',
    site: null,
    tasks: single ? [id.slice('single-'.length)] : TASKS,
    status: 'completed',
    accuracy,
    seconds: 10,
    steps: 5,
    log: `results/x/${id}-seed${seed}.jsonl`,
    ...extra,
  };
}

const baselines = (seed: number, left: number, right: number) => [run('single-left', seed, { left }), run('single-right', seed, { right })];

describe('summarise', () => {
  it('computes Δm% against the same seed’s single-task runs and averages over seeds', () => {
    const results = [
      ...baselines(0, 0.8, 0.5),
      run('ew', 0, { left: 0.88, right: 0.45 }),
      ...baselines(1, 0.9, 0.6),
      run('ew', 1, { left: 0.9, right: 0.66 }),
    ];
    const rows = summarise(results, TASKS);
    expect(rows.map((r) => r.method)).toEqual(['single-task', 'ew']);
    const [single, ew] = rows;
    expect(single!.accuracy.left).toBeCloseTo(0.85, 12);
    expect(single!.accuracy.right).toBeCloseTo(0.55, 12);
    expect(single!.deltaM).toBe(0);
    // Both runs of a seed together.
    expect(single!.seconds).toBe(20);
    // Seed 0: (100/2)(0.08/0.8 − 0.05/0.5) = 0; seed 1: (100/2)(0 + 0.06/0.6) = 5.
    expect(ew!.deltaM).toBeCloseTo(2.5, 10);
    expect(ew!.deltaMStd).toBeCloseTo(Math.sqrt(12.5), 10);
    expect(ew!.accuracy.left).toBeCloseTo(0.89, 12);
    expect(ew!.meanAccuracy).toBeCloseTo((0.89 + 0.555) / 2, 12);
    expect(ew!.seeds).toEqual([0, 1]);
  });

  it('gives no Δm% without baselines, and keeps a failed run out of the means', () => {
    const results = [
      run('pcgrad', 0, { left: 0.7, right: 0.6 }),
      run('pcgrad', 1, {}, { status: 'failed', error: 'NON_FINITE_LOSS: task left' }),
    ];
    const [pcgrad] = summarise(results, TASKS);
    expect(pcgrad!.deltaM).toBeNull();
    expect(pcgrad!.accuracy).toEqual({ left: 0.7, right: 0.6 });
    expect(pcgrad!.seeds).toEqual([0]);
    expect(pcgrad!.failures).toEqual([{ seed: 1, error: 'NON_FINITE_LOSS: task left' }]);
  });
});

describe('rankRows and markdownTable', () => {
  const results = [
    ...baselines(0, 0.8, 0.5),
    run('ew', 0, { left: 0.8, right: 0.45 }),
    run('pcgrad', 0, { left: 0.84, right: 0.5 }, { level: 'gramian', site: 'shared' }),
    run('mgda', 0, {}, { status: 'failed', error: 'boom', level: 'gramian', site: 'shared' }),
  ];
  const rows = summarise(results, TASKS);

  it('puts the baselines first, then the best Δm%, and failed methods last', () => {
    expect(rankRows(rows).map((r) => r.method)).toEqual(['single-task', 'pcgrad', 'ew', 'mgda']);
  });

  it('writes one line per method with percentages, Δm% and the site', () => {
    const lines = markdownTable(rows, TASKS).trimEnd().split('\n');
    expect(lines[0]).toBe('| method | level | site | left acc. % | right acc. % | mean acc. % | Δm% | wall s |');
    expect(lines).toHaveLength(6);
    expect(lines[2]).toBe('| single-task models | — | — | 80.00 | 50.00 | 65.00 | 0 (reference) | 20 |');
    expect(lines[3]).toBe('| pcgrad | gramian | shared | 84.00 | 50.00 | 67.00 | +2.50 | 10 |');
    expect(lines[4]).toBe('| ew | loss | — | 80.00 | 45.00 | 62.50 | −5.00 | 10 |');
    expect(lines[5]).toBe('| mgda (failed) | gramian | shared | — | — | — | — | 10 |');
  });
});

describe('replaceBetweenMarkers', () => {
  it('replaces what is between the markers and keeps them', () => {
    const text = 'a\n<!-- results:multi-mnist -->\nold\n<!-- /results:multi-mnist -->\nb\n';
    expect(replaceBetweenMarkers(text, 'multi-mnist', '| t |\n')).toBe('a\n<!-- results:multi-mnist -->\n| t |\n<!-- /results:multi-mnist -->\nb\n');
  });

  it('returns null without both markers', () => {
    expect(replaceBetweenMarkers('<!-- results:multi-mnist -->', 'multi-mnist', 'x')).toBeNull();
    expect(replaceBetweenMarkers('<!-- results:multi-fashion --><!-- /results:multi-fashion -->', 'multi-mnist', 'x')).toBeNull();
  });
});
