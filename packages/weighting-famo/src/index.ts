export { famo } from './famo';
export type { FamoOptions, FamoState } from './famo';
