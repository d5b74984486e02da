export { pcgrad, pcgradWeights } from './pcgrad';
export type { PCGradOptions, PCGradState } from './pcgrad';
