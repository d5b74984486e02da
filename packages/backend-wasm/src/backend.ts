import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, MtlError, setTfjsBackend, type Backend } from '@mtljs/core';

const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;

/** The file names of tfjs-backend-wasm's three binaries: plain, SIMD, and threaded SIMD. */
export type WasmBinaryName = (typeof WASM_BINARIES)[number];

/** Options of `wasmBackend`. */
export interface WasmBackendOptions {
  /**
   * Where the .wasm binaries are: a folder prefix ending in '/' (a URL in a browser), or a full
   * path for each of the three binary names (tfjs refuses a map that leaves one out). Default:
   * in Node, the dist/ folder of the installed @tensorflow/tfjs-backend-wasm; in a browser,
   * tfjs's own default (next to the script).
   */
  wasmPaths?: string | Record<WasmBinaryName, string>;
}

// A module with one SIMD instruction, from GoogleChromeLabs/wasm-feature-detect (tfjs uses the
// same bytes to pick its SIMD binary).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11]);

function isNode(): boolean {
  return typeof process === 'object' && typeof process.versions?.node === 'string';
}

function hasSimd(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

function threadsNote(): string {
  // tfjs never starts wasm worker threads in Node (tfjs issue #3830); in a browser they need
  // SharedArrayBuffer, which only a cross-origin-isolated page has.
  if (isNode()) return 'no in Node';
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return isolated && typeof SharedArrayBuffer === 'function' ? 'yes' : 'no (page not cross-origin isolated)';
}

/** The .wasm binaries of the installed @tensorflow/tfjs-backend-wasm, so Node never fetches them. */
async function installedBinaries(): Promise<Record<WasmBinaryName, string>> {
  // Ignored by browser bundlers: this path runs in Node only.
  const { createRequire } = await import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:module');
  const require = createRequire(import.meta.url);
  const paths = {} as Record<WasmBinaryName, string>;
  for (const name of WASM_BINARIES) {
    try {
      paths[name] = require.resolve(`@tensorflow/tfjs-backend-wasm/dist/${name}`);
    } catch (error) {
      throw new MtlError(
        'BACKEND_UNAVAILABLE',
        `backend 'wasm': cannot find ${name} in the installed @tensorflow/tfjs-backend-wasm; reinstall it or pass { wasmPaths }`,
        { plugin: 'wasm', file: name },
        { cause: error },
      );
    }
  }
  return paths;
}

type TfjsWasm = typeof import('@tensorflow/tfjs-backend-wasm');

function describePaths(paths: WasmBackendOptions['wasmPaths']): string {
  if (paths === undefined) return "tfjs's default location";
  return typeof paths === 'string' ? paths : Object.values(paths).join(', ');
}

function hasStarted(): boolean {
  // Not tf.findBackend('wasm'): that starts the backend, before our paths are set.
  return tf.engine().registry['wasm'] !== undefined;
}

async function start(wasm: TfjsWasm, options: WasmBackendOptions): Promise<void> {
  const paths = options.wasmPaths ?? (isNode() ? await installedBinaries() : undefined);
  if (paths !== undefined) {
    try {
      wasm.setWasmPaths(paths);
    } catch (error) {
      // tfjs refuses new paths once a start has failed, and keeps the failed state for the process.
      throw new MtlError(
        'BACKEND_UNAVAILABLE',
        `backend 'wasm': an earlier start failed in this process and tfjs takes no new .wasm paths after that; restart the process (tfjs: ${(error as Error).message})`,
        { plugin: 'wasm' },
        { cause: error },
      );
    }
  }
  await setTfjsBackend('wasm', `the .wasm binaries were looked up at: ${describePaths(paths)}`);
}

// The first start of the tfjs backend, shared by concurrent activations: a second
// tf.setBackend('wasm') while one is pending makes tfjs report the first as failed.
let starting: Promise<void> | undefined;

/**
 * The tfjs WebAssembly backend (XNNPACK kernels). Faster than cpu and available wherever
 * WebAssembly is; ranks above cpu and below native and hardware WebGPU (priority 30).
 *
 * @example
 * ```ts
 * import { register, useBackend } from '@mtljs/core';
 * import { wasmBackend } from '@mtljs/backend-wasm';
 *
 * register(wasmBackend());
 * const choice = await useBackend('auto'); // the highest-priority backend that starts
 * ```
 */
export function wasmBackend(options: WasmBackendOptions = {}): Backend {
  return {
    kind: 'backend',
    name: 'wasm',
    apiVersion: API_VERSION,
    priority: 30,
    async isAvailable() {
      if (typeof WebAssembly !== 'object') return { available: false, reason: 'no WebAssembly in this runtime' };
      return { available: true, reason: `WebAssembly available (SIMD: ${hasSimd() ? 'yes' : 'no'}, threads: ${threadsNote()})` };
    },
    async activate() {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (!hasStarted()) {
        starting ??= start(wasm, options).finally(() => {
          starting = undefined;
        });
        return starting;
      }
      // tfjs reads the .wasm paths only at the first start; now it only needs to be current.
      await setTfjsBackend('wasm', 'it had started before');
    },
  };
}
