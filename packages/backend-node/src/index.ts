export { nodeBackend } from './backend';
export type { NodeBackendOptions } from './backend';
