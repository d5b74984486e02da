export { dselectK } from './dselect-k';
export type { DSelectKFeatures, DSelectKGateKind, DSelectKModel, DSelectKOptions, DSelectKStrategy } from './dselect-k';
export { codeLength, dselectGate, selectorEntropy, selectorWeights, smoothStep } from './gate';
