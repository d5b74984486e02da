// WebGPU in Node: Dawn from the optional `webgpu` package, with Vulkan pointed at a driver first.
// Everything here runs only when `process.versions.node` exists; node:fs and webgpu are imported
// lazily, through variable specifiers, so that a browser bundle never reaches for them.
import { MtlError } from '@mtljs/core';
import type { GpuLike } from './adapter';

/** SwiftShader's Vulkan driver manifest from Debian's `chromium` package. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
/** The Vulkan loader that Debian's `chromium` package ships beside it. */
export const CHROMIUM_VULKAN_LOADER = '/usr/lib/chromium/libvulkan.so.1';

/** Whether to set up SwiftShader's Vulkan driver for Dawn in Node: `'auto'` or `false` (see `WebGpuBackendOptions.swiftshader`). */
export type SwiftShaderOption = 'auto' | false;

export interface NodeGpuOptions {
  swiftshader: SwiftShaderOption;
  dawnFlags: readonly string[];
}

export interface NodeGpu {
  gpu: GpuLike;
  /** False when navigator.gpu was set by someone else before us: we use it and never remove it. */
  owned: boolean;
  /** What was set up, for the availability reason: the Vulkan driver and loader chosen. */
  notes: string[];
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

interface Installed {
  addedGlobals: string[];
  createdNavigator: boolean;
}

// One Dawn instance per process, shared by every plugin object: the Vulkan driver choice is
// process-wide anyway, and tfjs's 'webgpu' backend reads the one navigator.gpu.
let current: (NodeGpu & { globals: Record<string, unknown>; installed?: Installed }) | undefined;
let loading: Promise<NonNullable<typeof current>> | undefined;

type Fs = typeof import('node:fs');

// glibc's dlopen flags; Node's os.constants.dlopen leaves RTLD_NODELETE out.
const RTLD_NOW = 0x2;
const RTLD_NODELETE = 0x1000;

/**
 * Loads a shared library and keeps it loaded for the life of the process, so that Dawn's own
 * `dlopen('libvulkan.so.1')` finds it by its soname. process.dlopen then throws "did not
 * self-register" (it is no Node addon) and closes its handle, which RTLD_NODELETE turns into a
 * no-op; any other error means the library could not be loaded.
 */
function pinLibrary(path: string): boolean {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, path, RTLD_NOW | RTLD_NODELETE);
    return true;
  } catch (error) {
    return /did not self-register/.test((error as Error).message);
  }
}

/** The file-system questions the Vulkan choice asks; tests answer them with a fake. */
export interface FileView {
  exists(path: string): boolean;
  /** Entry names of a directory; empty when it is missing. */
  list(directory: string): string[];
}

type Environment = Record<string, string | undefined>;

function fileView(fs: Fs): FileView {
  return {
    exists: (path) => fs.existsSync(path),
    list: (directory) => {
      try {
        return fs.readdirSync(directory);
      } catch {
        return [];
      }
    },
  };
}

/**
 * A hardware Vulkan driver that looks usable: a GPU device node (DRM render node, NVIDIA, WSL's
 * dxg) and an installed driver manifest other than Mesa's lavapipe, a CPU driver that Dawn
 * rejects. Returns the manifest's path.
 */
function hardwareVulkanDriver(env: Environment, files: FileView): string | undefined {
  const hasGpuNode = files.list('/dev/dri').some((name) => name.startsWith('renderD')) || files.exists('/dev/nvidia0') || files.exists('/dev/dxg');
  if (!hasGpuNode) return undefined;
  const home = env['HOME'];
  const configDirs = (env['XDG_CONFIG_DIRS'] || '/etc/xdg').split(':');
  const dataDirs = (env['XDG_DATA_DIRS'] || '/usr/local/share:/usr/share').split(':');
  // Where the Vulkan loader looks for driver manifests on Linux.
  const icdDirectories = [
    ...configDirs.map((dir) => `${dir}/vulkan/icd.d`),
    '/etc/vulkan/icd.d',
    ...(home ? [`${home}/.local/share/vulkan/icd.d`] : []),
    ...dataDirs.map((dir) => `${dir}/vulkan/icd.d`),
  ];
  for (const directory of icdDirectories) {
    const manifest = files.list(directory).find((name) => name.endsWith('.json') && !name.startsWith('lvp_icd'));
    if (manifest) return `${directory}/${manifest}`;
  }
  return undefined;
}

/**
 * What swiftshader: 'auto' does about the Vulkan driver: `icd` is the VK_ICD_FILENAMES value to
 * set, if any; `note` says what was decided, for the availability reason.
 */
export function chooseVulkanDriver(env: Environment, files: FileView): { icd?: string; note?: string } {
  const userDriver = env['VK_ICD_FILENAMES'] || env['VK_DRIVER_FILES'];
  if (userDriver) return { note: `Vulkan driver from the environment: ${userDriver}` };
  if (!files.exists(SWIFTSHADER_ICD)) return {};
  const hardware = hardwareVulkanDriver(env, files);
  if (hardware) return { note: `Vulkan driver: the system's (found ${hardware}; SwiftShader left unused)` };
  return { icd: SWIFTSHADER_ICD, note: `Vulkan driver: SwiftShader (VK_ICD_FILENAMES=${SWIFTSHADER_ICD}, set by @mtljs/backend-webgpu)` };
}

/**
 * Chooses the Vulkan driver and loader before Dawn starts (the loader reads VK_ICD_FILENAMES
 * when Dawn creates its Vulkan instance; too late after that). Returns what it did.
 */
async function prepareVulkan(swiftshader: SwiftShaderOption): Promise<string[]> {
  if (swiftshader === false || process.platform !== 'linux') return [];
  // A variable specifier, like 'webgpu' below, so that browser bundlers do not try to resolve it.
  const fsSpecifier = 'node:fs';
  const fs = (await import(/* webpackIgnore: true */ /* @vite-ignore */ fsSpecifier)) as Fs;
  const files = fileView(fs);
  const notes: string[] = [];
  const driver = chooseVulkanDriver(process.env, files);
  if (driver.icd) process.env['VK_ICD_FILENAMES'] = driver.icd;
  if (driver.note) notes.push(driver.note);
  if (!pinLibrary('libvulkan.so.1')) {
    if (files.exists(CHROMIUM_VULKAN_LOADER) && pinLibrary(CHROMIUM_VULKAN_LOADER)) {
      notes.push(`Vulkan loader: ${CHROMIUM_VULKAN_LOADER} (the system has no libvulkan.so.1)`);
    } else {
      notes.push('no Vulkan loader (libvulkan.so.1) found: apt-get install libvulkan1, or chromium');
    }
  }
  return notes;
}

async function importDawn(): Promise<DawnModule> {
  // A variable specifier, so that browser bundlers leave the import alone: the package is a
  // native Node addon and an optional peer dependency.
  const specifier = 'webgpu';
  try {
    return (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as DawnModule;
  } catch (error) {
    const message = (error as Error).message;
    const missing = (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && message.includes(`'${specifier}'`);
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      missing
        ? "backend 'webgpu': WebGPU in Node needs the optional peer dependency 'webgpu' (Dawn): npm install webgpu"
        : `backend 'webgpu': the 'webgpu' package (Dawn) failed to load on ${process.platform}-${process.arch}: ${message}`,
      { plugin: 'webgpu' },
      { cause: error },
    );
  }
}

async function load(options: NodeGpuOptions): Promise<NonNullable<typeof current>> {
  const notes = await prepareVulkan(options.swiftshader);
  const dawn = await importDawn();
  let gpu: GpuLike;
  try {
    gpu = dawn.create([...options.dawnFlags]);
  } catch (error) {
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      `backend 'webgpu': Dawn's create(${JSON.stringify(options.dawnFlags)}) failed: ${(error as Error).message}`,
      { plugin: 'webgpu' },
      { cause: error },
    );
  }
  return { gpu, owned: true, notes, globals: dawn.globals };
}

function foreignGpu(): GpuLike | undefined {
  const navigator = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  const gpu = navigator?.gpu;
  return gpu !== undefined && gpu !== current?.gpu ? gpu : undefined;
}

/** The process's GPU object, starting Dawn on first use; navigator.gpu is not touched yet. */
export async function nodeGpu(options: NodeGpuOptions): Promise<NodeGpu> {
  const existing = foreignGpu();
  if (existing) return { gpu: existing, owned: false, notes: ['navigator.gpu was set before this plugin ran; it is used as it is'] };
  if (current) return current;
  loading ??= load(options).finally(() => {
    loading = undefined;
  });
  current = await loading;
  return current;
}

function defineGlobal(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, configurable: true, writable: true, enumerable: true });
}

/**
 * Sets navigator.gpu and the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) that tfjs's WebGPU
 * code reads, before @tensorflow/tfjs-backend-webgpu is imported: its module checks navigator.gpu
 * at import time, and its kernels read the constants.
 */
export async function installNodeGpu(options: NodeGpuOptions): Promise<NodeGpu> {
  const gpu = await nodeGpu(options);
  if (!gpu.owned || current === undefined || current.installed) return gpu;
  const scope = globalThis as Record<string, unknown>;
  const addedGlobals: string[] = [];
  for (const [name, value] of Object.entries(current.globals)) {
    if (!(name in scope)) {
      defineGlobal(scope, name, value);
      addedGlobals.push(name);
    }
  }
  // Node 20 has no navigator; Node 21+ has one without gpu.
  const createdNavigator = scope['navigator'] === undefined;
  if (createdNavigator) defineGlobal(scope, 'navigator', {});
  defineGlobal(scope['navigator'] as object, 'gpu', current.gpu);
  current.installed = { addedGlobals, createdNavigator };
  return current;
}

/**
 * Undoes installNodeGpu and drops the Dawn instance: removes navigator.gpu (and navigator, if it
 * was created here) and the WebGPU globals added here. A later activation starts a new instance.
 */
export function releaseNodeGpu(): void {
  const state = current;
  current = undefined;
  if (!state?.installed) return;
  const scope = globalThis as Record<string, unknown>;
  const navigator = scope['navigator'] as { gpu?: unknown } | undefined;
  if (navigator?.gpu === state.gpu) delete navigator.gpu;
  if (state.installed.createdNavigator) delete scope['navigator'];
  for (const name of state.installed.addedGlobals) delete scope[name];
}
