export { mmoe } from './mmoe';
export type { MmoeFeatures, MmoeModel, MmoeOptions, MmoeStrategy } from './mmoe';
