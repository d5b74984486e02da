import * as tf from '@tensorflow/tfjs-core';

export type BindingPackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

/** The name tfjs-node and tfjs-node-gpu register their tfjs backend under. */
export const TFJS_BACKEND = 'tensorflow';

/**
 * The few fields of tfjs-node's `NodeJSKernelBackend` read for the log line. Declared here, not
 * imported, so that this package type-checks and builds where the binding is not installed.
 */
interface NodeKernelBackend {
  binding?: { TF_Version?: string };
  isGPUPackage?: boolean;
  isUsingGpuDevice?: boolean;
}

// The binding package this process tried to load first, whichever loader was used.
let firstPackage: BindingPackage | undefined;

export type LoadOutcome = { loaded: true; detail: string } | { loaded: false; reason: string };

function isNode(): boolean {
  return typeof process === 'object' && typeof process.versions?.node === 'string';
}

/**
 * Imports the package by a name held in a variable: TypeScript does not resolve it, and bundlers
 * leave it alone instead of failing on an optional peer that is not installed.
 */
function importByName(name: string): Promise<unknown> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ name);
}

/**
 * Loads the binding package, which registers the 'tensorflow' tfjs backend and, as a side effect
 * of tfjs-node's import, makes it current; the backend current before is restored, so that a
 * check changes nothing. Never throws: a failure becomes the reason shown in the log.
 */
export async function loadBinding(name: BindingPackage, load: (() => Promise<unknown>) | undefined): Promise<LoadOutcome> {
  if (!isNode()) {
    return { loaded: false, reason: `${name} runs in Node.js only (it is a native addon); in a browser use @mtljs/backend-webgpu or @mtljs/backend-wasm` };
  }
  const wantGpu = name === '@tensorflow/tfjs-node-gpu';
  const other: BindingPackage = wantGpu ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu';
  // Both packages register the same tfjs backend and kernels under 'tensorflow': loading one after
  // the other re-registers 150-odd kernels (a warning each) and still runs the first one's.
  const oneOnly = `the two register the same '${TFJS_BACKEND}' tfjs backend, so use one of them per process (register only one nodeBackend())`;
  const engine = tf.engine() as unknown as { backendName?: string | null; registry: Record<string, unknown> };
  const existing = engine.registry[TFJS_BACKEND] as NodeKernelBackend | undefined;
  if (existing?.isGPUPackage !== undefined && existing.isGPUPackage !== wantGpu) {
    return { loaded: false, reason: `not loaded: this process already runs the '${TFJS_BACKEND}' backend of ${other}; ${oneOnly}` };
  }
  if (firstPackage !== undefined && firstPackage !== name && tf.getKernelsForBackend(TFJS_BACKEND).length > 0) {
    return { loaded: false, reason: `not loaded: this process already tried ${other}, which registered its kernels; ${oneOnly}` };
  }
  firstPackage ??= name;

  // Unset (undefined) until a backend is first chosen; then there is nothing to restore.
  const previous = engine.backendName;
  try {
    await (load ?? (() => importByName(name)))();
  } catch (error) {
    return { loaded: false, reason: `cannot load ${name}: ${firstLine(error)}; ${installHint(name, error)}` };
  }
  if (previous && previous !== TFJS_BACKEND && engine.backendName !== previous) await tf.setBackend(previous);
  if (!tf.findBackendFactory(TFJS_BACKEND)) {
    return { loaded: false, reason: `${name} loaded but registered no '${TFJS_BACKEND}' tfjs backend; is it version 4.x, next to @tensorflow/tfjs-core ${tf.version_core}?` };
  }
  return { loaded: true, detail: describe(name, engine.registry[TFJS_BACKEND] as NodeKernelBackend | undefined, wantGpu) };
}

function describe(name: string, backend: NodeKernelBackend | undefined, wantGpu: boolean): string {
  const version = backend?.binding?.TF_Version;
  const parts = [version ? `TensorFlow ${version}` : undefined];
  if (backend?.isUsingGpuDevice !== undefined) {
    parts.push(
      backend.isUsingGpuDevice
        ? 'on a CUDA GPU'
        : wantGpu
          ? 'no CUDA GPU visible, TensorFlow runs on the CPU (check the CUDA/cuDNN libraries and CUDA_VISIBLE_DEVICES)'
          : 'on the CPU',
    );
  }
  const known = parts.filter((part): part is string => part !== undefined);
  return `${name} loaded${known.length ? ` (${known.join(', ')})` : ''}`;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.trim().replace(/\.$/, '');
}

/** What to do about a failed load, by what failed. */
function installHint(name: BindingPackage, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const install = `install it with \`npm i ${name}\` (its install script downloads libtensorflow, so it needs network access at install time)`;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && (message.includes(`'${name}'`) || message.includes(`"${name}"`))) {
    return `it is not installed; ${install}`;
  }
  if (message.includes('tfjs_binding.node')) {
    // tfjs-node throws this when its package is there but lib/ is not: the install script that
    // downloads libtensorflow and the prebuilt addon did not run (offline, --ignore-scripts) or failed.
    return `the package is installed but its native binding is not (its install script, which downloads libtensorflow, did not run or failed); run \`npm rebuild ${name}\` with network access`;
  }
  if (/libtensorflow|libcud|libcudnn|cannot open shared object/i.test(message)) {
    return name === '@tensorflow/tfjs-node-gpu'
      ? `a shared library is missing: reinstall ${name}, and put the CUDA toolkit and cuDNN versions its README lists on the library path (LD_LIBRARY_PATH)`
      : `a shared library is missing: reinstall ${name} (\`npm rebuild ${name}\`, with network access)`;
  }
  return install;
}
