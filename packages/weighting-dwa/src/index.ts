export { dwa } from './dwa';
export type { DwaEpochMeans, DwaOptions, DwaState } from './dwa';
