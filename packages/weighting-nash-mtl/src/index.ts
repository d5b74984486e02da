export { nashMtl, nashMtlWeights } from './nash-mtl';
export type { NashMTLOptions, NashMTLSolution, NashMTLState } from './nash-mtl';
