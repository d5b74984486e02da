export { drawUniforms, graddrop } from './graddrop';
export type { GradDropOptions, GradDropState } from './graddrop';
