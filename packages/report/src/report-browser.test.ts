// The rendered report opened from a file in headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core; no browser is downloaded): the charts are there and drawn, the Δm% table
// holds the hand-worked values, and the page asks the network for nothing.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium as chromiumSystem } from '@mtljs/vitest-config';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { renderReport } from './render-report';
import { sampleStudy } from './testing/sample-runs';

const SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results', 'report.png');

interface PageFacts {
  charts: number;
  kinds: Record<string, number>;
  lossCharts: { run: string; series: { name: string; points: number; width: number }[] }[];
  heatmapCells: number[];
  negativeCells: number;
  delta: Record<string, { value: string; text: string }>;
  drawnPaths: number;
  paths: number;
}

describe('the report in headless Chromium', () => {
  let browser: Browser | undefined;
  let dir: string | undefined;

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!chromiumSystem.run)(`renders every chart from a file, with no network request${chromiumSystem.note}`, async () => {
    // Two multi-task runs (cosines from pcgrad's Gramian; from probes under EW) and two single-task runs.
    const runs = await sampleStudy();
    dir = await mkdtemp(join(tmpdir(), 'mtljs-report-'));
    const file = join(dir, 'report.html');
    await writeFile(file, renderReport({ title: 'mtljs report (browser test)', runs }));
    const url = pathToFileURL(file).href;

    browser = await chromium.launch({ executablePath: chromiumSystem.path });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(url, { waitUntil: 'load' });
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const facts: PageFacts = await page.evaluate(() => {
      const all = <T extends Element>(root: ParentNode, selector: string) => Array.from(root.querySelectorAll<T>(selector));
      const kinds: Record<string, number> = {};
      for (const svg of all<SVGSVGElement>(document, 'svg.mtl-chart')) kinds[svg.dataset.chart!] = (kinds[svg.dataset.chart!] ?? 0) + 1;
      const paths = all<SVGPathElement>(document, 'path.mtl-series');
      return {
        charts: all(document, 'svg.mtl-chart').length,
        kinds,
        lossCharts: all<HTMLElement>(document, 'section.mtl-run').map((section) => ({
          run: section.dataset.run!,
          series: all<SVGPathElement>(section, 'svg[aria-label="Training loss per task"] path.mtl-series').map((path) => ({
            name: path.dataset.series!,
            points: Number(path.dataset.points),
            width: path.getBBox().width,
          })),
        })),
        heatmapCells: all(document, 'svg[data-chart="heatmap"]').map((svg) => svg.querySelectorAll('rect.mtl-cell').length),
        negativeCells: all(document, 'rect.mtl-cell.mtl-negative').length,
        delta: Object.fromEntries(
          all<HTMLElement>(document, 'table.mtl-delta-table td.mtl-delta-m').map((cell) => [cell.dataset.run!, { value: cell.dataset.value!, text: cell.textContent! }]),
        ),
        // A flat line (EW's constant weights) has no height, so a drawn path is one with some extent.
        drawnPaths: paths.filter((path) => path.getBBox().width > 0 || path.getBBox().height > 0).length,
        paths: paths.length,
      };
    });
    console.info(`report page: ${JSON.stringify(facts.kinds)}; screenshot ${SCREENSHOT}`);

    // Per multi-task run: training loss, task weights, validation loss and one per metric
    // (pcgrad: accuracy, rmse, mae, r2 → 5; EW: accuracy, rmse, mae → 4), and the heatmap:
    // 8 + 7. Per single-task run: training loss and validation loss + its metrics: 3 + 4.
    // The Δm% bars: 1. In all 23.
    expect(facts.charts).toBe(23);
    expect(facts.kinds).toEqual({ line: 20, heatmap: 2, bar: 1 });
    expect(facts.lossCharts.map((chart) => [chart.run, chart.series.map((s) => s.name)])).toEqual([
      ['hard+pcgrad', ['digit', 'size']],
      ['hard+ew', ['digit', 'size']],
      ['single digit', ['digit']],
      ['single size', ['size']],
    ]);
    for (const chart of facts.lossCharts) {
      for (const series of chart.series) {
        expect(series.points).toBeGreaterThan(1);
        expect(series.width).toBeGreaterThan(100);
      }
    }
    expect(facts.drawnPaths).toBe(facts.paths);
    expect(facts.heatmapCells).toEqual([4, 4]);
    // pcgrad's run has a negative mean cosine between its two tasks (both off-diagonal cells).
    expect(facts.negativeCells).toBe(2);
    expect(facts.delta).toEqual({ 'hard+pcgrad': { value: '15.625', text: '+15.63%' }, 'hard+ew': { value: '6.25', text: '+6.25%' } });
    expect(requests).toEqual([url]);
    expect(problems).toEqual([]);
  });
});
