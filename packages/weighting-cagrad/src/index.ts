export { cagrad, cagradWeights } from './cagrad';
export type { CAGradOptions, CAGradRescale, CAGradSolution } from './cagrad';
