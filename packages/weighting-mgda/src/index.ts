export { mgda, mgdaWeights } from './mgda';
export type { MGDANormalization, MGDAOptions, MGDAResult } from './mgda';
