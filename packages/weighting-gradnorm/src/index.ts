export { gradnorm, GRADNORM_MIN_WEIGHT } from './gradnorm';
export type { GradNormInitialLoss, GradNormOptions, GradNormState } from './gradnorm';
