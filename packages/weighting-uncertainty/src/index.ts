export { uncertainty } from './uncertainty';
export type { UncertaintyForm, UncertaintyOptions, UncertaintyState } from './uncertainty';
