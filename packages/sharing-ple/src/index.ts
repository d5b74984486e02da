export { NEW_EXPERT_GATE_BIAS, ple } from './ple';
export type { PleOptions } from './ple';
