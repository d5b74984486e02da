export { releaseWebGpu, webgpuBackend } from './backend';
export type { WebGpuAvailability, WebGpuBackend, WebGpuBackendOptions } from './backend';
export { classifyAdapter, describeAdapter } from './adapter';
export type { AdapterReport, GpuAdapterInfoLike, GpuAdapterLike, GpuDeviceLike } from './adapter';
export { CHROMIUM_VULKAN_LOADER, SWIFTSHADER_ICD } from './node-gpu';
export type { SwiftShaderOption } from './node-gpu';
