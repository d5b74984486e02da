import { describe, expect, it } from 'vitest';
import type { Row } from './bench';
import { acceptance, markdown, replaceTable, TABLE_END, TABLE_START } from './report';
import { summarise } from './stats';

function row(change: Partial<Row>): Row {
  return {
    kind: 'weighting',
    trunk: 'mlp',
    tasks: 2,
    weighting: 'x',
    level: 'gramian',
    site: 'features',
    method: summarise([10]),
    baseline: summarise([10]),
    ratio: 1,
    tensorsPerStep: 0,
    bytesPerStep: 0,
    leakSteps: 500,
    leaked: 0,
    ...change,
  };
}

describe('acceptance', () => {
  it('judges each point on the rows, with the thresholds of issue 11', () => {
    const rows = [
      row({ kind: 'overhead', weighting: 'ew', level: 'loss', site: null, tasks: 2, method: summarise([10]), baseline: summarise([10]), ratio: 1.0 }),
      row({ kind: 'overhead', weighting: 'ew', level: 'loss', site: null, tasks: 40, method: summarise([14]), baseline: summarise([24]), ratio: 1.06 }),
      row({ weighting: 'uncertainty', level: 'loss', site: null, ratio: 1.09 }),
      row({ weighting: 'pcgrad', site: 'features', tasks: 40, ratio: 1.31 }),
      row({ weighting: 'pcgrad', site: 'shared', tasks: 8, ratio: 6.1, leaked: 1 }),
    ];
    const checks = acceptance(rows);
    expect(checks.map((c) => [c.point, c.pass])).toEqual([
      [1, false],
      [2, true],
      [3, true],
      [4, false],
      [5, false],
      [6, false],
    ]);
    expect(checks[1]!.measured).toBe('1.40× (raw tfjs: 2.40×)');
    expect(checks[4]!.measured).toBe('T=8: worst 6.10× = 0.76 T');
    expect(checks[5]!.measured).toMatch(/^4\/5 flat over ≥ 500 steps; moved: pcgrad shared mlp T=8$/);
  });

  it('judges point 2 on the interleaved scaling pair when the run has one; that pair is no configuration of point 6', () => {
    const rows = [
      row({ kind: 'overhead', weighting: 'ew', level: 'loss', site: null, tasks: 2, method: summarise([10]), baseline: summarise([10]), ratio: 1.0 }),
      row({ kind: 'overhead', weighting: 'ew', level: 'loss', site: null, tasks: 40, method: summarise([20]), baseline: summarise([24]), ratio: 0.83 }),
      row({ kind: 'scaling', weighting: 'ew', level: 'loss', site: null, tasks: 40, method: summarise([13]), baseline: summarise([10]), ratio: 1.3, leakSteps: 25 }),
    ];
    const checks = acceptance(rows);
    expect(checks[1]!.measured).toBe('1.30× (interleaved: 13.00 vs 10.00 ms) (raw tfjs: 2.40×)');
    expect(checks[1]!.pass).toBe(true);
    expect(checks[5]!.measured).toBe('2/2 flat over ≥ 500 steps');
    expect(checks[5]!.pass).toBe(true);
    const table = markdown(rows, { command: 'pnpm bench', machine: 'm', date: '2026-11-23', backend: 'wasm', steps: 20, warmup: 5, peakRssMiB: 100 });
    expect(table).toContain('| 40 | 13.00 (13.00–13.00) | 10.00 (10.00–10.00) | 1.300 | 0 |');
    expect(table.match(/\| 40 \| tuned \|/g)).toHaveLength(1);
  });

  it('fails a point that has nothing to judge it on', () => {
    expect(acceptance([]).every((c) => !c.pass)).toBe(true);
  });
});

describe('the README table', () => {
  it('is written between its markers, replacing the previous one and keeping the text around it', () => {
    const table = markdown([row({})], { command: 'pnpm bench', machine: 'm', date: '2026-11-22', backend: 'wasm', steps: 20, warmup: 3, peakRssMiB: 100 });
    expect(table).toContain('| mlp | 2 | x | gramian | features | 10.00 (10.00–10.00) | 10.00 (10.00–10.00) | 1.00 | 0 | 0 / 500 |');
    const first = replaceTable('# Benchmarks\n\nintro\n', 'one\n');
    expect(first).toBe(`# Benchmarks\n\nintro\n\n${TABLE_START}\none\n${TABLE_END}\n`);
    const second = replaceTable(`${first}after\n`, 'two\n');
    expect(second).toBe(`# Benchmarks\n\nintro\n\n${TABLE_START}\ntwo\n${TABLE_END}\nafter\n`);
  });
});
