// The tfjs side: our own factory for tfjs's 'webgpu' backend, and two fixes to it that the mtljs
// train step needs.
import * as tf from '@tensorflow/tfjs-core';
import { MtlError } from '@mtljs/core';
import { classifyAdapter, readAdapterInfo, type AdapterReport, type GpuDeviceLike, type GpuLike } from './adapter';

type TfjsWebGpu = typeof import('@tensorflow/tfjs-backend-webgpu');

interface BackendInternals {
  device: GpuDeviceLike & { limits: Record<string, number> };
  tensorMap: { get(dataId: object): { values: unknown; dtype: string } | undefined };
  readSync(dataId: object): unknown;
  disposeData(dataId: object, force?: boolean): boolean;
}

interface EngineInternals {
  registry: Record<string, (tf.KernelBackend & Partial<BackendInternals>) | undefined>;
  registryFactory: Record<string, { factory: () => unknown; priority: number } | undefined>;
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

// The limits tfjs's own factory raises to the adapter's maximum, plus the number of storage
// buffers per shader, which it leaves at the default 8: tfjs's AddN binds every input and the
// output, so summing 8 tensors (the engine sums the squares of every update tensor) already
// fails validation there.
const RAISED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

// Features tfjs uses when the device has them: GPU timestamps for tf.profile, bgra8unorm storage
// textures for drawing to a canvas.
const OPTIONAL_FEATURES = ['timestamp-query', 'bgra8unorm-storage'] as const;

function navigatorGpu(): GpuLike | undefined {
  return (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
}

/**
 * Why tfjs's synchronous WebGPU read cannot be used here, or undefined where it should work. tfjs
 * copies the buffer into a WebGPU canvas and reads it back through a 2D OffscreenCanvas. Node has
 * no OffscreenCanvas. In headless Chromium 150 on SwiftShader the read returned zeros and then
 * lost the page's connection to the GPU ("A valid external Instance reference no longer
 * exists"), so on a software adapter it is not even tried. On a GPU, tfjs's own read runs.
 */
function syncReadProblem(adapter: AdapterReport): string | undefined {
  if (typeof OffscreenCanvas === 'undefined') {
    return 'tfjs reads WebGPU buffers back synchronously through an OffscreenCanvas, which this runtime (Node) does not have';
  }
  if (adapter.kind === 'software') {
    return 'tfjs reads WebGPU buffers back synchronously through an OffscreenCanvas, which on a software adapter (here: headless Chromium on SwiftShader) reads zeros and then loses the GPU';
  }
  return undefined;
}

/** Replaces tfjs's synchronous read of GPU data with an error that says why and what to do. */
function guardReadSync(backend: BackendInternals, problem: string): void {
  const original = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    const data = backend.tensorMap.get(dataId);
    // Data still on the CPU side (small tensors tfjs ran on its CPU kernels) reads fine.
    if (data === undefined || data.values != null || data.dtype === 'string') return original(dataId);
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      `backend 'webgpu' cannot read a GPU tensor synchronously here (dataSync, arraySync, and so Trainer.step): ${problem}. ` +
        'Read with `await tensor.data()`, or train with the wasm or cpu backend here',
      { plugin: 'webgpu' },
    );
  };
}

async function createBackend(module: TfjsWebGpu): Promise<tf.KernelBackend> {
  const gpu = navigatorGpu();
  if (!gpu) throw new Error('navigator.gpu is missing');
  // The same request as isAvailable(), so the adapter reported is the adapter used.
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() found no adapter');
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((feature) => adapter.features.has(feature));
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = await readAdapterInfo(adapter);
  const backend = new module.WebGPUBackend(device as never, info as never);
  const internals = backend as unknown as BackendInternals;
  const problem = syncReadProblem(classifyAdapter(info, adapter.isFallbackAdapter));
  if (problem !== undefined) guardReadSync(internals, problem);
  return backend;
}

let addNPatched = false;

/**
 * tfjs's WebGPU AddN binds all its inputs at once, so it fails on more inputs than the device
 * has storage buffers per shader stage (less one for the output); Concat splits such calls, AddN
 * does not. This sums them in chunks with tfjs's own kernel.
 */
function patchAddN(): void {
  if (addNPatched) return;
  const original = tf.getKernel('AddN', 'webgpu');
  if (original === undefined) return;
  const kernelFunc = original.kernelFunc;
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as unknown as BackendInternals;
      const inputs = args.inputs as unknown as tf.TensorInfo[];
      const chunk = Math.max(2, (backend.device?.limits?.['maxStorageBuffersPerShaderStage'] ?? 8) - 1);
      let pending = inputs;
      const partials: tf.TensorInfo[] = [];
      while (pending.length > chunk) {
        const next: tf.TensorInfo[] = [];
        for (let start = 0; start < pending.length; start += chunk) {
          const part = pending.slice(start, start + chunk);
          if (part.length === 1) {
            next.push(part[0]!);
            continue;
          }
          const sum = kernelFunc({ ...args, inputs: part as never }) as tf.TensorInfo;
          partials.push(sum);
          next.push(sum);
        }
        pending = next;
      }
      const result = kernelFunc({ ...args, inputs: pending as never });
      for (const partial of partials) backend.disposeData(partial.dataId);
      return result;
    },
  });
  addNPatched = true;
}

/** The 'webgpu' factory this package registered, to tell it from tfjs's own. */
let registeredFactory: (() => Promise<tf.KernelBackend>) | undefined;

/**
 * Loads @tensorflow/tfjs-backend-webgpu (after navigator.gpu is set) and registers our factory
 * for tfjs's 'webgpu' backend in place of its own, unless a 'webgpu' backend already runs.
 */
export async function registerTfjsWebGpu(): Promise<void> {
  const module = await import('@tensorflow/tfjs-backend-webgpu');
  patchAddN();
  const internals = engine();
  const existing = internals.registryFactory['webgpu'];
  if (existing !== undefined && existing.factory === registeredFactory) return;
  // Someone started tfjs's own factory already: keep that backend rather than drop its tensors.
  if (internals.registry['webgpu'] !== undefined) return;
  if (existing !== undefined) tf.removeBackend('webgpu');
  registeredFactory = () => createBackend(module);
  // tfjs registers 'webgpu' with priority 3 (above webgl 2, cpu 1); keep it.
  tf.registerBackend('webgpu', registeredFactory, existing?.priority ?? 3);
}

/** Disposes tfjs's 'webgpu' backend, if registered, and destroys its device. */
export function removeTfjsWebGpu(): void {
  const internals = engine();
  if (internals.registryFactory['webgpu'] === undefined) return;
  const device = internals.registry['webgpu']?.device;
  tf.removeBackend('webgpu');
  device?.destroy();
  registeredFactory = undefined;
}
