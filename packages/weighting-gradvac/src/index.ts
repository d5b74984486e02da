export { gradvac, gradvacStep } from './gradvac';
export type { GradVacOptions, GradVacState, GradVacStepResult } from './gradvac';
