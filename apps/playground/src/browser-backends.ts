import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { webgpuBackend } from '@mtljs/backend-webgpu';
import type { Backend, Registry } from '@mtljs/core';
// Vite copies each binary into the build and gives its URL: tfjs's default location (beside the
// script) does not exist in a bundled app.
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** The backends a page can run: wasm with the bundled binaries, WebGPU through navigator.gpu, cpu. */
export function browserBackends(): Backend[] {
  return [
    wasmBackend({
      wasmPaths: {
        'tfjs-backend-wasm.wasm': wasmPlainUrl,
        'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
        'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
      },
    }),
    webgpuBackend(),
    cpuBackend(),
  ];
}

/**
 * Puts the browser's backends in the registry: 'wasm' replaces the umbrella's (which would look
 * for its binaries beside the script), 'webgpu' and 'cpu' are added where missing. Other
 * registered backends stay, and the page shows why they cannot run here.
 */
export function registerBrowserBackends(registry: Registry): void {
  for (const backend of browserBackends()) {
    if (backend.name === 'wasm' || !registry.has('backend', backend.name)) registry.register(backend, { replace: true });
  }
}
