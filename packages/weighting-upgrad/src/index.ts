export { upgrad, upgradWeights } from './upgrad';
export type { UPGradOptions, UPGradResult } from './upgrad';
