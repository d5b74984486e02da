// The built app in headless Chromium (Debian's /usr/bin/chromium through playwright-core; no
// browser is downloaded): it trains live on wasm and on WebGPU (SwiftShader, given by
// --enable-unsafe-webgpu), and the charts, step counter and tensor count follow.
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium as browserType, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { chromium } from '@mtljs/vitest-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const APP = join(dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = join(APP, 'test-results');
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu'];

/**
 * Steps before the first and between the two readings of the page. WebGPU here is SwiftShader, a
 * CPU emulation of a GPU, at ~0.8 s a step of the page's small model (wasm: ~20 ms), so it gets
 * fewer steps to stay within the test's time.
 */
const STEPS: Record<string, { first: number; more: number }> = { wasm: { first: 20, more: 10 }, webgpu: { first: 6, more: 2 } };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
};

function serve(root: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep)) {
      response.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  // 127.0.0.1 is a secure context, which WebGPU requires.
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Reading {
  step: number;
  backend: string;
  lossSeries: { name: string; points: number }[];
  weightSeries: { name: string; points: number }[];
  tensors: { last: number; min: number; max: number; since: number };
  validationRows: number;
  status: string;
  /** The page's mean wall-clock time a step over the last 20 steps. */
  speed: string;
}

async function read(page: Page): Promise<Reading> {
  return page.evaluate(() => {
    const text = (id: string) => document.getElementById(id)?.textContent ?? '';
    const series = (id: string) =>
      [...document.querySelectorAll(`#${id} svg.mtl-chart path.mtl-series`)].map((path) => ({
        name: path.getAttribute('data-series') ?? '',
        points: Number(path.getAttribute('data-points')),
      }));
    const tensors = document.getElementById('tensor-count')!;
    return {
      step: Number(text('step-count')),
      backend: text('backend-active'),
      lossSeries: series('loss-chart'),
      weightSeries: series('weight-chart'),
      tensors: {
        last: Number(tensors.textContent),
        min: Number(tensors.dataset['min']),
        max: Number(tensors.dataset['max']),
        since: Number(tensors.dataset['since']),
      },
      validationRows: document.querySelectorAll('#validation-table tbody tr').length,
      status: text('status-text'),
      speed: text('speed'),
    };
  });
}

let outDir = '';
let server: Server | undefined;
let browser: Browser | undefined;
let origin = '';

describe('the playground in headless Chromium', () => {
  beforeAll(async () => {
    if (!chromium.run) return;
    outDir = await mkdtemp(join(tmpdir(), 'mtljs-playground-'));
    // Unminified: the test checks behaviour, and minifying costs seconds on a loaded machine.
    await build({ root: APP, configFile: join(APP, 'vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true, minify: false, reportCompressedSize: false } });
    server = await serve(outDir);
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await browserType.launch({ executablePath: chromium.path, args: CHROMIUM_ARGS });
    await mkdir(ARTIFACTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  for (const backend of ['wasm', 'webgpu']) {
    it.skipIf(!chromium.run)(`trains live on ${backend}: the charts, the step counter and a flat tensor count follow${chromium.note}`, async () => {
      const page = await browser!.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console error: ${message.text()}`);
      });
      try {
        await page.goto(`${origin}/`);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
        const available = await page.getAttribute(`#backend-reasons li[data-backend="${backend}"]`, 'data-available');
        const reason = await page.textContent(`#backend-reasons li[data-backend="${backend}"]`);
        expect(available, reason ?? '').toBe('true');
        // Every registered weighting and strategy is offered; MTAN (conv encoder only) is disabled.
        expect(await page.$$eval('#weighting option', (options) => options.length)).toBeGreaterThanOrEqual(20);
        expect(await page.$eval('#sharing option[value="mtan"]', (option) => (option as HTMLOptionElement).disabled)).toBe(true);

        // 256 training examples in batches of 64: an epoch (and a validation pass) every 4 steps.
        await page.fill('#train-size', '256');
        await page.fill('#validation-size', '128');
        await page.selectOption('#backend', backend);
        const tensorsBefore = Number(await page.textContent('#tensor-count'));
        await page.click('#start');
        const steps = STEPS[backend]!;
        const stepAtLeast = (count: number) => page.waitForFunction((n) => Number(document.getElementById('step-count')?.textContent) >= n, count, { timeout: 40_000 });
        await stepAtLeast(steps.first);
        const first = await read(page);
        await stepAtLeast(first.step + steps.more);
        await page.waitForFunction(() => document.querySelectorAll('#validation-table tbody tr').length > 0, undefined, { timeout: 20_000 });
        const second = await read(page);
        await page.screenshot({ path: join(ARTIFACTS, `playground-${backend}.png`), fullPage: true });
        await page.click('#pause');
        await page.waitForFunction(() => document.getElementById('status-text')?.textContent === 'paused');
        // Reset disposes the trainer, the model and the probe batch: back to the count before Start.
        await page.click('#reset');
        await page.waitForFunction(() => document.getElementById('status-text')?.textContent === 'ready');
        const afterReset = { step: await page.textContent('#step-count'), tensors: Number(await page.textContent('#tensor-count')) };
        console.info(`${backend} in Chromium ${browser!.version()}: ${second.step} steps, ${second.speed}; ${second.tensors.last} live tensors`);

        expect(first.backend).toBe(backend);
        expect(second.status).toBe('running');
        for (const reading of [first, second]) {
          expect(reading.lossSeries.map((s) => s.name)).toEqual(['task1', 'task2']);
          expect(reading.weightSeries.map((s) => s.name)).toEqual(['task1', 'task2']);
        }
        for (const [index, series] of second.lossSeries.entries()) expect(series.points).toBeGreaterThan(first.lossSeries[index]!.points);
        for (const [index, series] of second.weightSeries.entries()) expect(series.points).toBeGreaterThan(first.weightSeries[index]!.points);
        expect(second.validationRows).toBeGreaterThanOrEqual(1);
        // Live tensors after each step since the third: the same number every time.
        expect(second.tensors.since).toBe(3);
        expect(second.tensors.max).toBe(second.tensors.min);
        expect(second.tensors.last).toBe(second.tensors.min);
        expect(afterReset).toEqual({ step: '0', tensors: tensorsBefore });
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    });
  }
});
