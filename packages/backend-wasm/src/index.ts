export { wasmBackend } from './backend';
export type { WasmBackendOptions, WasmBinaryName } from './backend';
