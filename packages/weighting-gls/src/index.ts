export { gls } from './gls';
export type { GlsOptions } from './gls';
