import { API_VERSION, BACKEND_PRIORITY, MtlError, setTfjsBackend, type Backend } from '@mtljs/core';
import { describeAdapter, type AdapterReport, type GpuAdapterLike, type GpuLike } from './adapter';
import { installNodeGpu, nodeGpu, releaseNodeGpu, type SwiftShaderOption } from './node-gpu';
import { registerTfjsWebGpu, removeTfjsWebGpu } from './tfjs-webgpu';

/** Options of `webgpuBackend`; a bad `swiftshader` value is BAD_CONFIG. */
export interface WebGpuBackendOptions {
  /**
   * Node on Linux only. `'auto'` (default): unless VK_ICD_FILENAMES or VK_DRIVER_FILES is set, or
   * a hardware Vulkan driver looks usable, point Vulkan at SwiftShader from Debian's `chromium`
   * package (/usr/lib/chromium/vk_swiftshader_icd.json) when that file exists; and if the system
   * has no Vulkan loader (libvulkan.so.1), use the one beside it. `false`: leave Vulkan alone.
   * Read once, when the first plugin object starts Dawn in the process.
   */
  swiftshader?: SwiftShaderOption;
  /**
   * Node only: flags for Dawn's `create()`, e.g. `['backend=vulkan']` or
   * `['enable-dawn-features=allow_unsafe_apis']` (see the `webgpu` package's README). Read once,
   * like `swiftshader`.
   */
  dawnFlags?: readonly string[];
}

/** `isAvailable()`'s answer: `priority` ranks a software adapter below wasm in `useBackend('auto')`. */
export interface WebGpuAvailability {
  /** Whether an adapter was found, so that activating the backend can work. */
  available: boolean;
  /** When available: the adapter's summary, how it was reached and its ranking; otherwise why not (with a hint). */
  reason: string;
  /** BACKEND_PRIORITY.webgpuHardware (40) or .webgpuSoftware (20); absent when unavailable. */
  priority?: number;
  /** The adapter tfjs will get (the same request: powerPreference 'high-performance'). */
  adapter?: AdapterReport;
}

/** The backend plugin `webgpuBackend` returns: a Backend whose `isAvailable()` also reports the adapter, plus `release()`. */
export interface WebGpuBackend extends Backend {
  isAvailable(): Promise<WebGpuAvailability>;
  /** See {@link releaseWebGpu}. */
  release(): Promise<void>;
}

function isNode(): boolean {
  return typeof process === 'object' && typeof process.versions?.node === 'string';
}

function browserGpu(): GpuLike | undefined {
  return (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
}

const NO_BROWSER_GPU =
  'navigator.gpu is missing: this browser has no WebGPU, it is disabled, or the page is not a secure context (https, or http://localhost)';

function noAdapterHint(): string {
  if (!isNode()) return 'the browser has WebGPU but no adapter for it; in Chromium, --enable-unsafe-webgpu gives a SwiftShader adapter';
  if (process.platform !== 'linux') return `Dawn found no Metal, D3D12 or Vulkan adapter on ${process.platform}`;
  return "give Dawn a Vulkan driver: a GPU's, or SwiftShader (apt-get install chromium), or point VK_ICD_FILENAMES at one; Dawn rejects Mesa's lavapipe";
}

async function probe(options: Required<WebGpuBackendOptions>): Promise<WebGpuAvailability> {
  let gpu: GpuLike;
  let via = 'navigator.gpu';
  let notes: string[] = [];
  if (isNode()) {
    try {
      const found = await nodeGpu(options);
      gpu = found.gpu;
      notes = found.notes;
      via = found.owned ? "Dawn (the 'webgpu' package)" : 'navigator.gpu';
    } catch (error) {
      return { available: false, reason: (error as Error).message.replace(/^backend 'webgpu': /, '') };
    }
  } else {
    const found = browserGpu();
    if (!found) return { available: false, reason: NO_BROWSER_GPU };
    gpu = found;
  }
  const setup = notes.length > 0 ? `; ${notes.join('; ')}` : '';
  let adapter: GpuAdapterLike | null;
  try {
    // The same request as the tfjs factory this package registers, so this is the adapter tfjs gets.
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { available: false, reason: `requestAdapter() on ${via} failed: ${(error as Error).message}${setup}` };
  }
  if (!adapter) return { available: false, reason: `${via} found no WebGPU adapter (${noAdapterHint()})${setup}` };
  const report = await describeAdapter(adapter);
  const software = report.kind === 'software';
  const ranking = software ? 'a software adapter ranks below wasm' : 'a hardware adapter ranks above wasm';
  return {
    available: true,
    reason: `${report.summary} via ${via}; ${ranking}${setup}`,
    priority: software ? BACKEND_PRIORITY.webgpuSoftware : BACKEND_PRIORITY.webgpuHardware,
    adapter: report,
  };
}

async function start(options: Required<WebGpuBackendOptions>): Promise<void> {
  let notes: string[] = [];
  if (isNode()) {
    notes = (await installNodeGpu(options)).notes;
  } else if (!browserGpu()) {
    throw new MtlError('BACKEND_UNAVAILABLE', `backend 'webgpu': ${NO_BROWSER_GPU}`, { plugin: 'webgpu' });
  }
  await registerTfjsWebGpu();
  const setup = notes.length > 0 ? `; ${notes.join('; ')}` : '';
  await setTfjsBackend('webgpu', `tfjs could not get a WebGPU adapter or device${setup}`);
}

// Shared by concurrent activations: a second tf.setBackend('webgpu') while one is pending makes
// tfjs report the first as failed.
let starting: Promise<void> | undefined;

/**
 * Stops WebGPU so the process can exit and the GPU memory is freed: disposes tfjs's 'webgpu'
 * backend if it started (its tensors become unusable; read what you need first), destroys its
 * GPUDevice, and in Node removes the navigator.gpu and WebGPU globals this package set and drops
 * the Dawn instance. tfjs then has no current backend until you activate one (this one again
 * starts a fresh device). A navigator.gpu that this package did not set is left in place.
 */
export async function releaseWebGpu(): Promise<void> {
  if (starting) await starting.catch(() => undefined);
  removeTfjsWebGpu();
  if (isNode()) releaseNodeGpu();
}

/**
 * The tfjs WebGPU backend: `navigator.gpu` in a browser, Dawn (the optional `webgpu` package) in
 * Node. `isAvailable()` requests an adapter and reports whether it is hardware (priority 40, above
 * wasm) or software such as SwiftShader (priority 20, below wasm).
 *
 * @example
 * ```ts
 * import { register, useBackend } from '@mtljs/core';
 * import { webgpuBackend } from '@mtljs/backend-webgpu';
 *
 * register(webgpuBackend());
 * const choice = await useBackend('auto'); // the highest-priority backend that starts
 * ```
 */
export function webgpuBackend(options: WebGpuBackendOptions = {}): WebGpuBackend {
  const resolved: Required<WebGpuBackendOptions> = { swiftshader: options.swiftshader ?? 'auto', dawnFlags: options.dawnFlags ?? [] };
  if (resolved.swiftshader !== 'auto' && resolved.swiftshader !== false) {
    throw new MtlError('BAD_CONFIG', `webgpuBackend: swiftshader must be 'auto' or false, got ${JSON.stringify(resolved.swiftshader)}`, {
      plugin: 'webgpu',
    });
  }
  if (!Array.isArray(resolved.dawnFlags) || !resolved.dawnFlags.every((flag) => typeof flag === 'string')) {
    throw new MtlError('BAD_CONFIG', `webgpuBackend: dawnFlags must be an array of strings, got ${JSON.stringify(resolved.dawnFlags)}`, {
      plugin: 'webgpu',
    });
  }
  return {
    kind: 'backend',
    name: 'webgpu',
    apiVersion: API_VERSION,
    // The best case; isAvailable() reports the priority of the adapter actually found.
    priority: BACKEND_PRIORITY.webgpuHardware,
    isAvailable: () => probe(resolved),
    async activate() {
      starting ??= start(resolved).finally(() => {
        starting = undefined;
      });
      return starting;
    },
    release: releaseWebGpu,
  };
}
