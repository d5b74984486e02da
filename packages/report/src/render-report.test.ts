import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { renderReport } from './render-report';
import { meanCosines } from './report-data';
import { DIGIT, sampleRun, sampleStudy, SIZE } from './testing/sample-runs';

/** The Δm% cell of a run: [data-value, text]. */
function deltaCell(html: string, run: string): [string, string] {
  const match = new RegExp(`<td class="num mtl-delta-m[^"]*" data-run="${run}" data-value="([^"]*)">([^<]*)`).exec(html);
  expect(match, `no Δm% cell for ${run}`).not.toBeNull();
  return [match![1]!, match![2]!];
}

describe('renderReport', () => {
  it('puts the hand-worked Δm% of each multi-task run in the comparison table', async () => {
    const html = renderReport({ title: 'study', runs: await sampleStudy() });
    // See sampleStudy: 100/2 · (0.25 + (−0.125 + 0.25)/2) = 15.625 and 100/2 · (0 + (0.25 + 0)/2) = 6.25.
    expect(deltaCell(html, 'hard\\+pcgrad')).toEqual(['15.625', '+15.63%']);
    expect(deltaCell(html, 'hard\\+ew')).toEqual(['6.25', '+6.25%']);
    expect(html).toContain('class="mtl-delta-table"');
    expect(html.match(/<tr data-run="[^"]*"><td><a href="#run-\d">[^<]*<\/a><\/td><td>test<\/td>/g)).toHaveLength(2);
    expect(html).toContain('from single digit');
    expect(html).toContain('from single size');
    expect(html).toContain('data-chart="bar"');
  });

  it('uses given baselines over single-task runs, and says n/a where a task has none', async () => {
    const [pcgrad, , singleDigit] = await sampleStudy();
    // digit 0.625 vs 0.5 → +0.25; size rmse 2.25 vs 2.5 → +0.1, mae 0.75 vs 0.75 → 0: 100/2 · (0.25 + 0.05) = 15.
    const html = renderReport({ runs: [pcgrad!, singleDigit!], baselines: { size: { rmse: 2.5, mae: 0.75 } } });
    const [value, text] = deltaCell(html, 'hard\\+pcgrad');
    expect(Number(value)).toBeCloseTo(15, 10);
    expect(text).toBe('+15.00%');
    expect(html).toContain('given');
    const alone = renderReport({ runs: [pcgrad!, singleDigit!] });
    expect(deltaCell(alone, 'hard\\+pcgrad')).toEqual(['', 'n/a']);
    expect(alone).toContain('no baseline for task &#39;size&#39;');
  });

  it('has the summary, one section per run with its charts, and the task-relationship views', async () => {
    const runs = await sampleStudy();
    const html = renderReport({ runs });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<section class="card mtl-run"/g)).toHaveLength(4);
    expect(html.match(/<tr data-run=/g)!.length).toBeGreaterThanOrEqual(4 + 2);
    expect(html).toContain("from the Gramian the weighting 'pcgrad' computed at the 'shared' site");
    expect(html).toContain('from probes of the Gramian at the features site');
    expect(html).toContain('over 60 steps (steps 0–118)');
    expect(html).toContain('over 12 steps (steps 0–110)');
    // pcgrad's run was made with a mean cosine of −0.3, EW's with +0.4.
    expect(meanCosines(runs[0]!)!.mean[0]![1]).toBeLessThan(0);
    expect(html.match(/data-negative-pairs="1"/g)).toHaveLength(1);
    expect(html).toContain('<b>digit ↔ size</b>');
    expect(html.match(/data-negative-pairs="0"/g)).toHaveLength(1);
    expect(html).toContain('One task: no task pairs to compare.');
    expect(html).toContain('4 checkpoints; last: runs/hard+pcgrad/epoch-4.mtlckpt');
  });

  it('escapes every string from the logs and needs nothing from the network', async () => {
    const evil = await sampleRun({
      name: '<script>alert("run")</script>',
      tasks: [{ ...DIGIT, name: '<img src=x onerror=alert(1)>' }, SIZE],
      weighting: '"><svg onload=alert(2)>',
      site: null,
      cosines: 'gramian',
      final: {},
      warning: '<iframe src="http://example.com">',
    });
    const html = renderReport({ title: '<b>title</b>', runs: [evil] });
    expect(html).not.toMatch(/<script|<img|<iframe|<svg onload/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;run&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;iframe src=&quot;http://example.com&quot;&gt;');
    // Every link is an in-page anchor; the only URL is the SVG namespace.
    const urls = [...html.matchAll(/(?:href|src)="([^"]*)"/g)].map((m) => m[1]!);
    expect(urls.every((url) => url.startsWith('#'))).toBe(true);
    const addresses = new Set([...html.matchAll(/https?:\/\/[\w./-]+/g)].map((m) => m[0]));
    expect([...addresses].sort()).toEqual(['http://example.com', 'http://www.w3.org/2000/svg']);
    expect(html).toContain("default-src 'none'");
  });

  it('shows a crashed run as unfinished and still draws what it logged', async () => {
    const crashed = await sampleRun({ name: 'crashed', tasks: [DIGIT, SIZE], weighting: 'ew', site: null, final: { digit: { accuracy: 0.3 } }, crash: true });
    expect(crashed.end).toBeUndefined();
    const html = renderReport({ runs: [crashed] });
    expect(html).toContain('unfinished (no end record)');
    expect(html.match(/class="mtl-series"/g)!.length).toBeGreaterThanOrEqual(4);
    expect(html).toContain('No cosine records');
    expect(html).not.toContain('id="comparison"');
  });

  it('renders a long run: every series downsampled, no stack overflow on 200,000 values', async () => {
    const short = await sampleRun({ name: 'long', tasks: [DIGIT, SIZE], weighting: 'ew', site: null, final: {} });
    const steps = Array.from({ length: 100_000 }, (_, step) => ({
      type: 'step' as const,
      step,
      epoch: 0,
      loss: 1,
      losses: { digit: 2 * Math.exp(-step / 20_000) + 0.01 * Math.sin(step), size: 1 / (1 + step) },
      weights: { digit: 1, size: 1 },
    }));
    const cosines = steps.map(({ step }) => ({ type: 'cosine' as const, step, source: 'probe' as const, tasks: ['digit', 'size'], values: [[1, -0.5], [-0.5, 1]] }));
    const html = renderReport({ runs: [{ ...short, steps, cosines }] });
    const points = [...html.matchAll(/class="mtl-series" data-series="[^"]*" data-points="(\d+)"/g)].map((m) => Number(m[1]));
    expect(Math.max(...points)).toBeLessThanOrEqual(1000);
    expect(Math.min(...points)).toBeGreaterThan(1);
    expect(html).toContain('over 100000 steps (steps 0–99999)');
    // 'size' falls from 1 to 1e-5: the loss chart switches to a log axis.
    expect(html).toContain('loss (log scale)');
    expect(html.length).toBeLessThan(400_000);
  });

  it('refuses two runs with the same name', async () => {
    const run = await sampleRun({ name: 'twin', tasks: [DIGIT], weighting: 'ew', site: null, final: {} });
    let caught: unknown;
    try {
      renderReport({ runs: [run, run] });
    } catch (error) {
      caught = error;
    }
    expect(isMtlError(caught, 'BAD_CONFIG')).toBe(true);
    expect(String(caught)).toContain("two runs are named 'twin'");
    expect(() => renderReport({ runs: [run, { run: { name: 'x' } } as never] })).toThrow('runs[1] is not a run log');
    expect(() => renderReport({} as never)).toThrow("'runs' must be an array");
  });
});
