export { rlw } from './rlw';
export type { RlwOptions, RlwState } from './rlw';
