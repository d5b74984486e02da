export { mtan } from './mtan';
export type { MtanBlockAttention, MtanModel, MtanOptions, MtanStrategy } from './mtan';
