export { conFig, config, configWeights } from './config';
export type { ConFIGOptions, ConFIGResult, ConFIGState } from './config';
