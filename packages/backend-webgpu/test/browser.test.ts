// The same seeded training step on webgpu, wasm and cpu inside headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; no browser is downloaded). --enable-unsafe-webgpu
// is the one flag Chromium needs here for navigator.gpu to offer an adapter: SwiftShader.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDifference, STEP_CASES, type StepCase, type StepResult } from './fixtures/training-step';
import { CHROMIUM, chromiumSkip, hasChromium } from './system';

const TOLERANCE = 1e-4;
const STEPS = 2;
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu'];

const here = dirname(fileURLToPath(import.meta.url));

/** The tfjs wasm binaries, found from @mtljs/backend-wasm (this package does not depend on tfjs-backend-wasm directly). */
function wasmDirectory(): string {
  const fromPlugin = createRequire(createRequire(import.meta.url).resolve('@mtljs/backend-wasm'));
  return dirname(fromPlugin.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
}

async function bundlePage(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [join(here, 'fixtures/page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    // Node-only code paths of the workspace packages import Node built-ins lazily ('module' in
    // @mtljs/backend-wasm, 'fs' and 'zlib' in @mtljs/core; tsup drops the node: prefix); they
    // never run in the page, so leave them unresolved.
    external: [...builtinModules, ...builtinModules.map((name) => `node:${name}`)],
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.contents;
}

function serve(script: Uint8Array, wasmDir: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/favicon.ico') {
      response.writeHead(204).end();
    } else if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<!doctype html><meta charset="utf-8"><title>mtljs webgpu</title><script type="module" src="/page.js"></script>');
    } else if (path === '/page.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(script);
    } else if (/^\/wasm\/[\w-]+\.wasm$/.test(path)) {
      try {
        const body = readFileSync(join(wasmDir, path.slice('/wasm/'.length)));
        response.writeHead(200, { 'content-type': 'application/wasm' });
        response.end(body);
      } catch {
        response.writeHead(404).end();
      }
    } else {
      response.writeHead(404).end();
    }
  });
  // 127.0.0.1 is a secure context, which WebGPU requires.
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

type PageResult = StepResult & { backend: string; leaked: number };

let browser: Browser | undefined;
let server: Server | undefined;
let page: Page;
let setupError: Error | undefined;
const pageErrors: string[] = [];
const results = new Map<string, PageResult>();
const measured: string[] = [];

function ready(): void {
  if (setupError) throw new Error(`the page did not start in ${CHROMIUM}: ${setupError.message}`);
}

/** cpu and wasm run Trainer.step; webgpu the same step with asynchronous reads (see the README). */
async function run(backend: string, stepCase: StepCase): Promise<PageResult> {
  ready();
  const key = `${backend}/${stepCase}`;
  const mode = backend === 'webgpu' ? 'async' : 'trainer';
  if (!results.has(key)) {
    const result = await page.evaluate(([b, c, s, m]) => (globalThis as any).mtljsTest.run(b, c, s, m), [backend, stepCase, STEPS, mode] as const);
    results.set(key, result as PageResult);
  }
  return results.get(key)!;
}

describe('in headless Chromium', () => {
  beforeAll(async () => {
    if (!hasChromium) return;
    try {
      server = await serve(await bundlePage(), wasmDirectory());
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      page = await browser.newPage();
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(message.text());
      });
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => (globalThis as any).mtljsTest !== undefined, undefined, { timeout: 30_000 });
    } catch (error) {
      // Reported by every test (under CI a missing Chromium fails them; elsewhere they skip).
      setupError = error as Error;
    }
  });

  afterAll(async () => {
    if (browser && !setupError) {
      const released = await page.evaluate(() => (globalThis as any).mtljsTest.release()).catch((error: Error) => error.message);
      console.info(`release() in the page: ${JSON.stringify(released)}`);
    }
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (measured.length) console.info(`Chromium ${browser?.version() ?? ''}, ${STEPS} SGD steps, max |x - cpu|:\n  ${measured.join('\n  ')}`);
    if (pageErrors.length) console.info(`page errors:\n  ${pageErrors.join('\n  ')}`);
  });

  it.skipIf(!hasChromium)(`navigator.gpu gives a SwiftShader adapter, which the plugin reports as software${chromiumSkip}`, async () => {
    ready();
    const raw = await page.evaluate(() => (globalThis as any).mtljsTest.rawAdapter());
    const status = await page.evaluate(() => (globalThis as any).mtljsTest.availability());
    console.info(`Chromium ${browser!.version()} adapter: ${JSON.stringify(raw)}\nisAvailable(): ${JSON.stringify(status)}`);
    expect(status.available).toBe(true);
    expect(status.priority).toBe(20);
    expect(status.adapter.kind).toBe('software');
    expect(status.adapter.architecture).toBe('swiftshader');
    expect(status.reason).toContain('via navigator.gpu');
  });

  it.skipIf(!hasChromium)(`useBackend('auto') ranks wasm over the software adapter${chromiumSkip}`, async () => {
    ready();
    const choice = await page.evaluate(() => (globalThis as any).mtljsTest.auto());
    expect(choice.name).toBe('wasm');
    expect(choice.ranking).toEqual([
      ['wasm', 30, true],
      ['webgpu', 20, true],
      ['cpu', 10, true],
    ]);
  });

  it.skipIf(!hasChromium)(`Trainer.step on a software adapter says it cannot read synchronously${chromiumSkip}`, async () => {
    ready();
    const answer = await page.evaluate(() => (globalThis as any).mtljsTest.trainerOnWebgpu());
    expect(answer).toMatchObject({ outcome: 'threw', code: 'BACKEND_UNAVAILABLE' });
    expect(answer.message).toContain('cannot read a GPU tensor synchronously');
  });

  for (const stepCase of STEP_CASES) {
    const label = stepCase === 'equal' ? 'hard sharing + equal weighting' : "PCGrad at site 'shared'";
    for (const backend of ['webgpu', 'wasm']) {
      const what = backend === 'webgpu' ? 'steps with asynchronous reads on webgpu match Trainer steps on cpu' : 'Trainer steps on wasm match cpu';
      it.skipIf(!hasChromium)(`${label}: ${what} within ${TOLERANCE}${chromiumSkip}`, async () => {
        const cpu = await run('cpu', stepCase);
        const other = await run(backend, stepCase);
        expect([cpu.backend, other.backend]).toEqual(['cpu', backend]);
        expect(other.leaked).toBe(0);
        expect(cpu.losses.every(Number.isFinite)).toBe(true);
        expect(cpu.losses[2]).not.toBe(cpu.losses[0]);
        const lossDiff = maxAbsDifference(cpu.losses, other.losses);
        const weightDiff = maxAbsDifference(cpu.taskWeights, other.taskWeights);
        const variableDiff = maxAbsDifference(cpu.variables, other.variables);
        const times = other.milliseconds.map((ms) => `${ms.toFixed(0)} ms`).join(', ');
        measured.push(`${backend} ${stepCase}: losses ${lossDiff.toExponential(2)}, task weights ${weightDiff.toExponential(2)}, variables ${variableDiff.toExponential(2)}; step times ${times} (cpu ${cpu.milliseconds.map((ms) => ms.toFixed(0)).join(', ')} ms)`);
        expect(lossDiff).toBeLessThanOrEqual(TOLERANCE);
        expect(weightDiff).toBeLessThanOrEqual(TOLERANCE);
        expect(variableDiff).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  }
});
