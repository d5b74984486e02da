export { alignedMtl, alignedMtlWeights } from './aligned-mtl';
export type { AlignedMtlOptions, AlignedMtlResult, AlignedMtlState } from './aligned-mtl';
