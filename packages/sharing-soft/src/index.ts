export { softSharing } from './soft';
export type { SoftNewTower, SoftSharingModelApi, SoftSharingOptions, SoftSharingStrategy, SoftTie } from './soft';
