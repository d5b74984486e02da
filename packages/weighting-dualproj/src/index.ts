export { dualproj, dualprojWeights } from './dualproj';
export type { DualProjOptions } from './dualproj';
