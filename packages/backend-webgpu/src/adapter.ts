// The few WebGPU shapes this package touches. TypeScript's DOM library has no WebGPU types, and
// depending on @webgpu/types would make every user's type check depend on it too.

/** The adapter facts a browser or Dawn exposes (`GPUAdapter.info`, or `requestAdapterInfo()` before Chrome 127). */
export interface GpuAdapterInfoLike {
  /** The adapter's vendor, e.g. 'nvidia', 'google'; may be empty. */
  readonly vendor?: string;
  /** The GPU family, e.g. 'ampere', or 'swiftshader' for Chrome's CPU fallback; may be empty. */
  readonly architecture?: string;
  /** A vendor-specific device identifier; may be empty. */
  readonly device?: string;
  /** A human-readable name of the adapter or driver; may be empty. */
  readonly description?: string;
  /** In `info` since Chrome 131 and Dawn; on the adapter itself before. */
  readonly isFallbackAdapter?: boolean;
}

/**
 * The part of a WebGPU `GPUDevice` this package relies on, typed structurally so that no `@webgpu/types`
 * dependency is needed: the device the backend requested is destroyed by `releaseWebGpu()`.
 */
export interface GpuDeviceLike {
  /** Frees the device and its GPU memory; tensors created on it become unusable. */
  destroy(): void;
}

/**
 * The part of a WebGPU `GPUAdapter` this package reads, typed structurally (no `@webgpu/types`
 * dependency); what `navigator.gpu.requestAdapter()` or Dawn returns fits it.
 */
export interface GpuAdapterLike {
  /** The adapter's facts (browsers since Chrome 127, and Dawn). */
  readonly info?: GpuAdapterInfoLike;
  /** Whether this is a fallback (software) adapter, where the runtime has it on the adapter itself (before Chrome 131). */
  readonly isFallbackAdapter?: boolean;
  /** The optional WebGPU features the adapter supports. */
  readonly features: {
    /** Whether the adapter supports the feature named, e.g. 'shader-f16'. */
    has(name: string): boolean;
  };
  /** The adapter's limits by name, e.g. `maxBufferSize`. */
  readonly limits: Record<string, number | undefined>;
  /** The older way to read `info` (browsers before Chrome 127); used only where `info` is absent. */
  requestAdapterInfo?(): Promise<GpuAdapterInfoLike>;
  /** Opens a logical device on the adapter. */
  requestDevice(descriptor?: { requiredFeatures?: readonly string[]; requiredLimits?: Record<string, number> }): Promise<GpuDeviceLike>;
}

/** `navigator.gpu`, or the object Dawn's `create()` returns in Node. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GpuAdapterLike | null>;
}

/** What `isAvailable()` found out about the adapter tfjs will get. */
export interface AdapterReport {
  /** 'software' for a CPU rasteriser (SwiftShader, llvmpipe/lavapipe, WARP) or a fallback adapter. */
  kind: 'hardware' | 'software';
  /** `info.vendor`, or '' when not reported. */
  vendor: string;
  /** `info.architecture`, or '' when not reported. */
  architecture: string;
  /** `info.device`, or '' when not reported. */
  device: string;
  /** `info.description`, or '' when not reported. */
  description: string;
  /** As reported; `undefined` where the runtime does not say. */
  isFallbackAdapter: boolean | undefined;
  /** Why the adapter was classed as software ('fallback adapter', "architecture 'swiftshader'"); empty for hardware. */
  evidence: string;
  /** One line for logs: the kind and every non-empty field. */
  summary: string;
}

// CPU implementations of WebGPU, Vulkan, D3D and GL that adapters name in their info strings:
// SwiftShader (Chrome's fallback; Dawn reports vendor 'google', architecture 'swiftshader'),
// Mesa's llvmpipe / lavapipe / softpipe, and Microsoft's WARP ("Microsoft Basic Render Driver").
const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|softpipe|basic render driver|\bwarp\b/i;

/** `adapter.info`, or `requestAdapterInfo()` where a browser has only that; `{}` if neither answers. */
export async function readAdapterInfo(adapter: GpuAdapterLike): Promise<GpuAdapterInfoLike> {
  if (adapter.info !== undefined) return adapter.info;
  if (typeof adapter.requestAdapterInfo === 'function') {
    try {
      return await adapter.requestAdapterInfo();
    } catch {
      // Some Chrome versions reject it without a user gesture; the adapter is still usable.
    }
  }
  return {};
}

/** Classifies an adapter as hardware or software from its fallback flag and info strings. */
export function classifyAdapter(info: GpuAdapterInfoLike, adapterFallbackFlag?: boolean): AdapterReport {
  const fields = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  };
  const isFallbackAdapter = info.isFallbackAdapter ?? adapterFallbackFlag;
  const evidence: string[] = [];
  if (isFallbackAdapter === true) evidence.push('fallback adapter');
  for (const [field, value] of Object.entries(fields)) {
    if (SOFTWARE_NAMES.test(value)) evidence.push(`${field} '${value}'`);
  }
  const kind = evidence.length > 0 ? 'software' : 'hardware';
  const details = Object.entries(fields)
    .filter(([, value]) => value !== '')
    .map(([field, value]) => `${field} '${value}'`);
  if (isFallbackAdapter !== undefined) details.push(`isFallbackAdapter ${isFallbackAdapter}`);
  const summary = `${kind} WebGPU adapter (${details.length > 0 ? details.join(', ') : 'the runtime exposes no adapter details'})`;
  return { kind, ...fields, isFallbackAdapter, evidence: evidence.join(', '), summary };
}

/** Reads the adapter's info (`info`, or `requestAdapterInfo()` on older browsers) and classifies it. */
export async function describeAdapter(adapter: GpuAdapterLike): Promise<AdapterReport> {
  return classifyAdapter(await readAdapterInfo(adapter), adapter.isFallbackAdapter);
}
