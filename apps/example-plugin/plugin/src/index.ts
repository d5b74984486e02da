import { signAgreement } from './sign-agreement';

export { signAgreement, signAgreementWeights } from './sign-agreement';
export type { SignAgreementOptions } from './sign-agreement';

/** What `mtl` registers when a config lists this package in `plugins`. */
export const plugins = [signAgreement];
