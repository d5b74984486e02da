export { hardSharing } from './hard';
export type { HardSharingOptions } from './hard';
