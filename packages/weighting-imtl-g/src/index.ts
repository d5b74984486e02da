export { imtlG, imtlGWeights } from './imtl-g';
export type { IMTLGOptions, IMTLGSolution } from './imtl-g';
